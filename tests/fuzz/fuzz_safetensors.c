/* fuzz_safetensors.c — libFuzzer target for the safetensors header parser.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address -D_GNU_SOURCE -Icommon tests/fuzz/fuzz_safetensors.c \
 *       common/model/lm/safetensors.c common/kernels/dtype.c common/core/log.c common/core/error.c
 * \ -ljansson -o build/fuzz_safetensors && build/fuzz_safetensors -max_total_time=60
 *
 * The input is a whole file; every accepted tensor must lie inside it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "model/lm/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        gf_log_init("fuzz", GF_LOG_ERROR);
        init = 1;
    }
    struct gf_st *st = NULL;
    if (gf_st_parse("fuzz", data, size, &st) == 0) {
        for (int i = 0; i < st->n_tensors; i++) {
            const uint8_t *p = st->tensors[i].data;
            if (p < data || p + st->tensors[i].nbytes > data + size)
                abort();
        }
        gf_st_close(&st);
    }
    return 0;
}
