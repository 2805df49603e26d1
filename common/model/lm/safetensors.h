/* safetensors.h — one safetensors file, memory-mapped read-only, its header checked.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data;
 * offsets count from the start of the data. gf_st_open checks every entry before it returns:
 * a known dtype, a shape whose size matches end - begin, offsets inside the file. Tensors of
 * other dtypes (I64, U8, ...) are listed with dtype_ok = 0 so a caller can say which.
 */
#ifndef GF_MODEL_SAFETENSORS_H
#define GF_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"

#define GF_ST_MAX_DIMS 8

struct gf_st_tensor {
    char *name;
    int dtype_ok;        /* 0 when the dtype is none of F32/F16/BF16 */
    char dtype_name[16]; /* as the header says it: "BF16", "F8_E4M3", ... */
    enum gf_wtype dtype;
    int ndim;
    int64_t shape[GF_ST_MAX_DIMS];
    const void *data; /* into the mapping; borrowed until gf_st_close */
    size_t nbytes;
};

struct gf_st {
    char *path;
    void *map; /* the whole file */
    size_t map_size;
    struct gf_st_tensor *tensors; /* [n_tensors], in header order */
    int n_tensors;
};

/* Maps and checks `path`. Errors are logged (one line each, naming the file and the tensor)
 * and returned: GF_EIO (cannot open or map), GF_EPARSE (bad header), GF_ESCHEMA (an entry that
 * lies about its size or offsets). On success *out is caller-owned: gf_st_close. */
int gf_st_open(const char *path, struct gf_st **out);
/* Same checks on a header held in memory (the whole file in buf[len]); used by the fuzzer.
 * The result borrows buf. */
int gf_st_parse(const char *path, const void *buf, size_t len, struct gf_st **out);
void gf_st_close(struct gf_st **self_p);

/* The tensor called name, or NULL. */
const struct gf_st_tensor *gf_st_find(const struct gf_st *st, const char *name);

#endif
