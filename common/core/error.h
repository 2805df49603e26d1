/* error.h — one error enum for all of gotflow, and its strings.
 *
 * Actions return 0 or a negative GF_E* code; gf_strerror() names it. The table below is the only
 * place a code is defined (X-macro), so the enum and the strings never drift apart.
 */
#ifndef GF_CORE_ERROR_H
#define GF_CORE_ERROR_H

#define GF_ERRORS(X)                                                                               \
    X(GF_EINVAL, 1, "invalid argument")                                                            \
    X(GF_ENOMEM, 2, "out of memory")                                                               \
    X(GF_EIO, 3, "input/output error")                                                             \
    X(GF_EPARSE, 4, "malformed input")                                                             \
    X(GF_ESCHEMA, 5, "input does not fit the schema")                                              \
    X(GF_ETOOBIG, 6, "input exceeds a size limit")                                                 \
    X(GF_ENOTFOUND, 7, "not found")                                                                \
    X(GF_EEXIST, 8, "already exists")                                                              \
    X(GF_EAGAIN, 9, "try again")                                                                   \
    X(GF_ETIMEDOUT, 10, "timed out")                                                               \
    X(GF_ECLOSED, 11, "closed")                                                                    \
    X(GF_EZMQ, 12, "transport error")                                                              \
    X(GF_EUNSUPPORTED, 13, "not supported")                                                        \
    X(GF_ESTAGE, 14, "stage failed")                                                               \
    X(GF_EDRAINING, 15, "pipeline is draining")                                                    \
    X(GF_EBUSY, 16, "busy")

enum gf_error {
#define GF_X(name, num, str) name = -(num),
    GF_ERRORS(GF_X)
#undef GF_X
};

/* Returns a static string for a GF_E* code (negative), or "success" for 0. */
const char *gf_strerror(int err);

/* Returns the short symbolic name ("EPARSE") used as `code` in error frames. */
const char *gf_errname(int err);

#define GF_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            gf_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)

_Noreturn void gf_assert_fail(const char *what, const char *file, int line);

#endif
