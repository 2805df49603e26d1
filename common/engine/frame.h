/* frame.h — the data-plane frame: one msgpack map per ZeroMQ message (DESIGN §3).
 *
 * Common keys: `v` schema version, `id` request id, `n` attempt, `kind`, `params`, `trace`
 * (array of [stage, replica, t_in_us, t_out_us]); everything else is payload. Tensors are maps
 * {dtype, shape, data} with `data` a msgpack bin (little-endian, contiguous).
 *
 * Decoding (gf_frame_decode) first walks the raw bytes against hard limits (size, nesting depth,
 * element count, declared lengths vs. bytes present) and only then lets msgpack-c build objects,
 * so a hostile frame cannot make the decoder allocate more than a small multiple of its size.
 *
 * Ownership: a gf_frame_t owns its bytes; every string, bin and object obtained from it is
 * borrowed until gf_frame_destroy(). Not thread-safe; one frame is used by one thread at a time.
 */
#ifndef GF_ENGINE_FRAME_H
#define GF_ENGINE_FRAME_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define GF_FRAME_VERSION 1
#define GF_FRAME_ID_MAX 64   /* request ids are 1..63 bytes */
#define GF_FRAME_KIND_MAX 16 /* kinds are 1..15 bytes of [a-z_] */
#define GF_FRAME_MAX_DEPTH 16
#define GF_FRAME_MAX_ELEMS (1 << 20)     /* objects in one frame, all levels together */
#define GF_FRAME_DEFAULT_MAX (64L << 20) /* bytes; the graph's max_frame_bytes overrides */
#define GF_TENSOR_MAX_DIMS 8

typedef struct gf_frame gf_frame_t;

struct gf_frame {
    int v;
    char id[GF_FRAME_ID_MAX];
    uint32_t n;
    char kind[GF_FRAME_KIND_MAX];
    const msgpack_object *root;   /* the whole map; borrowed from the frame */
    const msgpack_object *params; /* the `params` map or NULL */
    const msgpack_object *trace;  /* the `trace` array or NULL */
    int64_t t_in_us;              /* when it arrived (set by the stage runtime) */
    /* private */
    uint8_t *bytes;
    size_t len;
    msgpack_unpacked unpacked;
};

/* Decodes `len` bytes (copied). Returns 0 and sets *frame_p (caller owns), or a negative code:
 * GF_ETOOBIG (over max_bytes, too deep, too many elements), GF_EPARSE (not msgpack, trailing
 * bytes), GF_ESCHEMA (not a map, bad or missing common key, newer version). On error `why` says
 * what and `id` holds the request id when one could be read ("" otherwise), so the caller can
 * answer that request with an error frame. `why` and `id` may be NULL. */
int gf_frame_decode(const void *data, size_t len, long max_bytes, gf_frame_t **frame_p, char *why,
                    size_t whylen, char id[GF_FRAME_ID_MAX]);

void gf_frame_destroy(gf_frame_t **frame_p);

/* Finds a well-formed `id` in the top-level map of possibly bad bytes, for error answers;
 * "" when there is none. */
void gf_frame_peek_id(const void *bytes, size_t len, char id[GF_FRAME_ID_MAX]);

/* True when `s` is a valid request id: 1..63 of [A-Za-z0-9._:-], not starting with '.'. */
int gf_frame_id_ok(const char *s, size_t len);

/* Checks msgpack bytes against the limits without building objects: 0, GF_EPARSE or GF_ETOOBIG. */
int gf_msgpack_check(const uint8_t *data, size_t len, int max_depth, long max_elems, char *why,
                     size_t whylen);

/* Key lookup in a frame or in any msgpack map; NULL when absent. */
const msgpack_object *gf_frame_get(const gf_frame_t *frame, const char *key);
const msgpack_object *gf_map_get(const msgpack_object *map, const char *key);

/* Typed reads: 0, GF_ENOTFOUND, or GF_ESCHEMA when the value has another type.
 * Strings are not NUL-terminated: use the returned length. */
int gf_frame_get_str(const gf_frame_t *frame, const char *key, const char **s, size_t *len);
int gf_frame_get_int(const gf_frame_t *frame, const char *key, int64_t *out);
int gf_frame_get_double(const gf_frame_t *frame, const char *key, double *out);
int gf_obj_int(const msgpack_object *o, int64_t *out);
int gf_obj_double(const msgpack_object *o, double *out);

/* Tensors ------------------------------------------------------------------------------------ */

enum gf_dtype {
    GF_DTYPE_U8,
    GF_DTYPE_I32,
    GF_DTYPE_I64,
    GF_DTYPE_F16,
    GF_DTYPE_BF16,
    GF_DTYPE_F32
};

struct gf_tensor_view {
    enum gf_dtype dtype;
    int ndim;
    int64_t shape[GF_TENSOR_MAX_DIMS];
    int64_t numel;
    const void *data; /* borrowed; may be unaligned */
    size_t nbytes;
};

const char *gf_dtype_name(enum gf_dtype dtype);
size_t gf_dtype_size(enum gf_dtype dtype);
int gf_dtype_parse(const char *s, size_t len, enum gf_dtype *out);

/* Reads a tensor map; checks dtype, rank, non-negative dims, no overflow, and that the data
 * length is exactly numel * element size. 0, GF_ENOTFOUND or GF_ESCHEMA (with `why`). */
int gf_obj_tensor(const msgpack_object *o, struct gf_tensor_view *t, char *why, size_t whylen);
int gf_frame_get_tensor(const gf_frame_t *frame, const char *key, struct gf_tensor_view *t,
                        char *why, size_t whylen);

/* Building frames ---------------------------------------------------------------------------- */

#define GF_EMIT_MAX_KEYS 64
#define GF_EMIT_KEY_MAX 32

/* The most keys the stages add to a request on its way through a pipeline, each counted once
 * even where it replaces one the request had: the header (v, id, n, kind, trace) and the payload
 * keys of the GoT-R1 stages, tokenize 2 (prompt_ids, special), reason 4 (reasoning_ids, text,
 * caption, kv_cache), layout 2 (objects, issues), imagegen 3 (codes, grid, phases_ms), vq 3 (png,
 * image_size, scores) and sink 2 (from, timings). A stage that adds keys is counted here. */
#define GF_STAGE_ADDED_KEYS (5 + 2 + 4 + 2 + 3 + 3 + 2)
/* The most keys of a request the gateway takes: every frame it becomes then stays within
 * GF_EMIT_MAX_KEYS (docs/protocol.md). */
#define GF_REQUEST_MAX_KEYS (GF_EMIT_MAX_KEYS - GF_STAGE_ADDED_KEYS)

/* A reusable frame builder. Usage:
 *     gf_emit_begin(e, in, "tokens");         // id and attempt taken from `in`
 *     gf_emit_str(e, "text", "...");           // payload keys, each at most once
 *     gf_emit_carry(e, in);                    // keys of `in` not written yet (not
 * v/id/n/kind/trace) gf_emit_end(e, "tokenize", 0, t_in_us);  // appends the trace entry, seals the
 * frame
 *     ... send gf_emit_data(e), gf_emit_len(e) ...
 * Every stage frame is a complete record of the request, so carrying is the norm: the stage
 * runtime calls gf_emit_carry(e, in) itself before sealing unless the stage disabled it. */
typedef struct gf_emit {
    msgpack_sbuffer body;
    msgpack_packer pk;
    msgpack_sbuffer out;
    uint32_t n_keys;
    char keys[GF_EMIT_MAX_KEYS][GF_EMIT_KEY_MAX];
    char id[GF_FRAME_ID_MAX];
    uint32_t n;
    char kind[GF_FRAME_KIND_MAX];
    const msgpack_object *traces[8]; /* trace arrays to carry, from the frames carried */
    int n_traces;
    int sealed;
} gf_emit_t;

void gf_emit_init(gf_emit_t *e);
void gf_emit_release(gf_emit_t *e);

/* Frees the builder's buffers when they hold more than `keep` bytes of capacity (a big frame
 * leaves them that large; a builder keeps its capacity between frames otherwise). Only between
 * frames: what gf_emit_data() returned is gone. */
void gf_emit_trim(gf_emit_t *e, size_t keep);

/* Starts a frame for request (id, n). */
void gf_emit_begin_id(gf_emit_t *e, const char *id, uint32_t n, const char *kind);
/* Starts a frame for the same request as `from` (its id and attempt; its trace carried). */
void gf_emit_begin(gf_emit_t *e, const gf_frame_t *from, const char *kind);

/* Starts the value of `key`: pack exactly one object with the returned packer. Returns NULL if
 * the key was already written or there are too many keys (a programmer error, logged). */
msgpack_packer *gf_emit_key(gf_emit_t *e, const char *key);
int gf_emit_has(const gf_emit_t *e, const char *key);

void gf_emit_str(gf_emit_t *e, const char *key, const char *s);
void gf_emit_strn(gf_emit_t *e, const char *key, const char *s, size_t len);
void gf_emit_int(gf_emit_t *e, const char *key, int64_t v);
void gf_emit_double(gf_emit_t *e, const char *key, double v);
void gf_emit_obj(gf_emit_t *e, const char *key, const msgpack_object *o);
void gf_emit_tensor(gf_emit_t *e, const char *key, enum gf_dtype dtype, const int64_t *shape,
                    int ndim, const void *data);
/* Packs a tensor map as the next value of any packer. */
void gf_pack_tensor(msgpack_packer *pk, enum gf_dtype dtype, const int64_t *shape, int ndim,
                    const void *data);

/* Copies the payload keys of `from` that this frame has not written (skips v, id, n, kind, trace)
 * and remembers its trace for the seal. Call for several frames to merge them (first wins). */
void gf_emit_carry(gf_emit_t *e, const gf_frame_t *from);

/* Seals: writes the common keys and the trace (carried entries + [stage, replica, t_in_us, now]).
 * After this the bytes are at gf_emit_data()/gf_emit_len() until the next begin. */
void gf_emit_end(gf_emit_t *e, const char *stage, int replica, int64_t t_in_us);

/* An `error` frame for request (id, n): stage, code (e.g. "ESCHEMA"), message. Sealed. */
void gf_emit_error(gf_emit_t *e, const char *id, uint32_t n, const msgpack_object *trace,
                   const char *stage, int replica, const char *code, const char *message);

const void *gf_emit_data(const gf_emit_t *e);
size_t gf_emit_len(const gf_emit_t *e);

/* Microseconds on the realtime clock (trace timestamps are comparable across hosts). */
int64_t gf_now_us(void);

#endif
