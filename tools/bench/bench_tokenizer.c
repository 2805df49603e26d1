/* bench_tokenizer.c — encode throughput (MB/s, one thread) of the tokenizer.
 *
 *   build/bench/bench_tokenizer [TOKENIZER_JSON [CORPUS_JSONL [PASSES]]]
 *
 * The corpus is the "t" field of each JSON line (a .jsonl file) or each line of a text file,
 * joined 20 lines to a document with "\n" (the documents tools/bench/bench_tokenizer_hf.py
 * gives HF tokenizers, so both encode the same text).
 * Prints the best pass: `tokenizer encode: X MB/s (B bytes, D docs, N ids)`.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/tokenizer/tokenizer.h"

#include "bench.h"

#define DOC_LINES 20

struct doc {
    char *p;
    size_t len;
};

static int s_corpus(const char *path, struct doc **docs_p, size_t *n_p, size_t *bytes_p)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_tokenizer: cannot open '%s'\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, n = 0, k = 0, bytes = 0;
    ssize_t len;
    struct doc *docs = NULL;
    size_t pl = strlen(path);
    int jsonl = pl > 6 && strcmp(path + pl - 6, ".jsonl") == 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *rec = NULL, *t;
        if (jsonl) {
            rec = json_loadb(line, (size_t)len, 0, &je);
            t = json_object_get(rec, "t");
        } else {
            t = json_stringn_nocheck(line, (size_t)len - (line[len - 1] == '\n'));
            rec = t;
        }
        if (json_is_string(t)) {
            if (k % DOC_LINES == 0) {
                docs = realloc(docs, (n + 1) * sizeof *docs);
                docs[n++] = (struct doc){calloc(1, 1), 0};
            }
            struct doc *d = &docs[n - 1];
            size_t tl = json_string_length(t), sep = k % DOC_LINES ? 1 : 0;
            d->p = realloc(d->p, d->len + sep + tl + 1);
            if (sep)
                d->p[d->len++] = '\n';
            memcpy(d->p + d->len, json_string_value(t), tl);
            d->len += tl;
            d->p[d->len] = 0;
            bytes += tl + sep;
            k++;
        }
        json_decref(rec);
    }
    free(line);
    fclose(f);
    *docs_p = docs;
    *n_p = n;
    *bytes_p = bytes;
    return 0;
}

int main(int argc, char **argv)
{
    const char *tpath = argc > 1 ? argv[1] : "tests/data/deepseek-llm/tokenizer.json";
    const char *cpath = argc > 2 ? argv[2] : "tests/oracle/goldens/tokenizer/got-r1.jsonl";
    int passes = argc > 3 ? atoi(argv[3]) : 5;
    char err[512];
    gf_tokenizer_t *tok = NULL;
    double t0 = gf_bench_now();
    if (gf_tokenizer_load(tpath, &tok, err, sizeof err)) {
        fprintf(stderr, "bench_tokenizer: %s\n", err);
        return 1;
    }
    double load_s = gf_bench_now() - t0;
    struct doc *docs;
    size_t n_docs, bytes;
    if (s_corpus(cpath, &docs, &n_docs, &bytes))
        return 1;
    struct gf_ids ids = {0};
    double best = 1e9;
    size_t n_ids = 0;
    for (int p = 0; p < passes; p++) {
        n_ids = 0;
        double t = gf_bench_now();
        for (size_t i = 0; i < n_docs; i++) {
            ids.n = 0;
            if (gf_tokenizer_encode(tok, docs[i].p, docs[i].len, 0, &ids)) {
                fprintf(stderr, "bench_tokenizer: encode failed on document %zu\n", i);
                return 1;
            }
            n_ids += ids.n;
        }
        t = gf_bench_now() - t;
        if (t < best)
            best = t;
    }
    printf("tokenizer load: %.3f s ('%s')\n", load_s, tpath);
    printf("tokenizer encode: %.2f MB/s (%zu bytes, %zu docs, %zu ids, best of %d)\n",
           bytes / best / 1e6, bytes, n_docs, n_ids, passes);
    gf_ids_release(&ids);
    for (size_t i = 0; i < n_docs; i++)
        free(docs[i].p);
    free(docs);
    gf_tokenizer_destroy(&tok);
    return 0;
}
