/* error.c — strings for the GF_E* table. */
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>

const char *gf_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define GF_X(name, num, str)                                                                       \
    case name:                                                                                     \
        return str;
        GF_ERRORS(GF_X)
#undef GF_X
    }
    return "unknown error";
}

const char *gf_errname(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define GF_X(name, num, str)                                                                       \
    case name:                                                                                     \
        return &#name[3];
        GF_ERRORS(GF_X)
#undef GF_X
    }
    return "EUNKNOWN";
}

void gf_assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "gotflow: assertion failed: %s (%s:%d)\n", what, file, line);
    abort();
}
