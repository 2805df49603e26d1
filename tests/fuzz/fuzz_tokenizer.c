/* fuzz_tokenizer.c — libFuzzer target for the tokenizer.json loader, the encoder and the decoder.
 *
 * The first byte picks what the rest is: a tokenizer.json to load (and, when it loads, to use on
 * a few strings), text to encode, or ids to decode (plain and streaming) with the committed test
 * tokenizers. Nothing may crash, leak or read out of bounds; errors are fine.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *       tests/fuzz/fuzz_tokenizer.c common/core/*.c common/model/tokenizer/*.c \
 *       -ljansson -lpcre2-8 -lutf8proc -lpthread -o build/fuzz_tokenizer
 *   build/fuzz_tokenizer -max_total_time=60 tests/fuzz/corpus_tokenizer   (from the repo root)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer/tokenizer.h"

static const char *const s_paths[] = {
    "tests/oracle/goldens/tokenizer/sp-bpe.json",
    "tests/oracle/goldens/tokenizer/bl-bpe.json",
    "tests/data/deepseek-llm/tokenizer.json",
};
#define S_N_TOK (sizeof s_paths / sizeof s_paths[0])
static gf_tokenizer_t *s_tok[S_N_TOK];

static gf_tokenizer_t *s_get(size_t i)
{
    if (!s_tok[i]) {
        char err[512];
        if (gf_tokenizer_load(s_paths[i], &s_tok[i], err, sizeof err))
            abort(); /* run from the repo root */
    }
    return s_tok[i];
}

static void s_roundtrip(const gf_tokenizer_t *tok, const uint8_t *data, size_t size)
{
    struct gf_ids ids = {0};
    if (gf_tokenizer_encode(tok, (const char *)data, size, 1, &ids) == 0) {
        char *text = NULL;
        if (gf_tokenizer_decode(tok, ids.v, ids.n, 0, &text, NULL) == 0)
            free(text);
    }
    gf_ids_release(&ids);
}

static void s_decode(const gf_tokenizer_t *tok, const uint8_t *data, size_t size)
{
    size_t n = size / 4;
    int32_t *ids = malloc(n * sizeof *ids + 1);
    memcpy(ids, data, n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] %= gf_tokenizer_size(tok) + 8; /* mostly valid ids, some not */
    char *text = NULL;
    if (gf_tokenizer_decode(tok, ids, n, 1, &text, NULL) == 0)
        free(text);
    gf_tok_stream_t *st = gf_tok_stream_new(tok, 0);
    for (size_t i = 0; st && i < n; i++) {
        size_t len;
        if (gf_tok_stream_step(st, ids[i], &text, &len) == 0)
            free(text);
    }
    if (st && gf_tok_stream_finish(st, &text, &(size_t){0}) == 0)
        free(text);
    gf_tok_stream_destroy(&st);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    if (mode % 3 == 0) {
        gf_tokenizer_t *tok = NULL;
        char err[256];
        if (gf_tokenizer_parse((const char *)data, size, "fuzz", &tok, err, sizeof err) == 0) {
            static const char *const probes[] = {"", "Hello, world!", "  a\n\nb 123 ½ é",
                                                 "<s>x</s>"};
            for (size_t i = 0; i < 4; i++)
                s_roundtrip(tok, (const uint8_t *)probes[i], strlen(probes[i]));
            s_decode(tok, data, size < 64 ? size : 64);
            gf_tokenizer_destroy(&tok);
        }
    } else if (mode % 3 == 1) {
        s_roundtrip(s_get((mode / 3) % S_N_TOK), data, size);
    } else {
        s_decode(s_get((mode / 3) % S_N_TOK), data, size);
    }
    return 0;
}
