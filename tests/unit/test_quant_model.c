/* test_quant_model.c — a whole model at q8_0 and q4_0 against the same checkpoint as published
 * (bf16 weights, f32 arithmetic): greedy decode from one prompt on an mkmodel checkpoint, each
 * path fed its own tokens. What holds (and is asserted): at q8_0 the greedy tokens are the
 * f32 path's for every step here and the logits stay within 5% of the f32 logits' spread
 * (rms); at q4_0 the logits stay within 20% (rms). The figures are printed. Also the KV slot
 * copy and the KV handover file at both cache types (f32 as published, q8_0 with quantized
 * weights). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "core/log.h"
#include "core/error.h"
#include "model/lm/checkpoint.h"
#include "model/lm/kvfile.h"
#include "model/lm/llm.h"
#include "../oracle/model_util.h"

enum { PROMPT = 8, STEPS = 24 };

static int s_argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* A checkpoint (quantized at load when quant >= 0) on a 2-thread CPU backend, and its model. */
struct s_run {
    struct gf_ckpt *ck;
    struct gf_backend *be;
    struct gf_llm *m;
};

static struct s_run s_open(const char *dir, int quant, int n_slots, int max_seq, int max_tokens)
{
    struct s_run r = {NULL, gf_backend_cpu_new(2), NULL};
    assert_int_equal(gf_ckpt_open(dir, &r.ck), 0);
    if (quant >= 0)
        assert_int_equal(gf_ckpt_quantize(r.ck, quant), 0);
    assert_int_equal(gf_llm_new(r.be, r.ck, n_slots, max_seq, max_tokens, &r.m), 0);
    return r;
}

static void s_close(struct s_run *r)
{
    gf_llm_destroy(&r->m);
    gf_backend_destroy(&r->be);
    gf_ckpt_close(&r->ck);
}

/* The tests' checkpoint (bf16 as published, 3 layers, grouped KV heads), from its seed. */
static char *s_mkmodel(int seed)
{
    char args[160];
    snprintf(args, sizeof args,
             "--dtype bf16 --vq-ch 0 --hidden 128 --intermediate 384 --layers 3 --heads 4 "
             "--kv-heads 2 --vocab 512 --seed %d",
             seed);
    return mu_mkmodel(NULL, args);
}

/* Greedy decode; ids[STEPS] and logits[STEPS][vocab] of every step. */
static void s_decode(const char *dir, int quant, int32_t *ids, float *logits)
{
    struct s_run r = s_open(dir, quant, 1, PROMPT + STEPS + 1, PROMPT);
    struct gf_llm *m = r.m;
    int V = m->cfg->vocab;
    struct gf_tok toks[PROMPT];
    for (int i = 0; i < PROMPT; i++)
        toks[i] = (struct gf_tok){(i * 37 + 5) % V, 0, i, GF_TOK_TEXT, i == PROMPT - 1};
    assert_int_equal(gf_llm_forward(m, toks, PROMPT), 1);
    for (int s = 0; s < STEPS; s++) {
        const float *l = gf_llm_text_logits(m);
        memcpy(logits + (size_t)s * V, l, V * sizeof *l);
        ids[s] = s_argmax(l, V);
        struct gf_tok t = {ids[s], 0, PROMPT + s, GF_TOK_TEXT, 1};
        assert_int_equal(gf_llm_forward(m, &t, 1), 1);
    }
    s_close(&r);
}

static void test_greedy(void **state)
{
    char *dir = s_mkmodel(3);
    assert_non_null(dir);
    int V = 512;
    int32_t ref[STEPS], got[STEPS];
    float *lr = malloc(sizeof(float) * STEPS * V), *lq = malloc(sizeof(float) * STEPS * V);
    s_decode(dir, -1, ref, lr);
    for (int q = GF_WTYPE_Q8_0; q <= GF_WTYPE_Q4_0; q++) {
        s_decode(dir, q, got, lq);
        int agree = 0;
        while (agree < STEPS && got[agree] == ref[agree])
            agree++;
        /* the logits of the steps both paths share, against the spread of the f32 logits */
        double se = 0, sr = 0, mean = 0;
        int n = agree > 0 ? agree : 1;
        for (int64_t i = 0; i < (int64_t)n * V; i++)
            mean += lr[i] / ((double)n * V);
        for (int64_t i = 0; i < (int64_t)n * V; i++) {
            se += (lq[i] - lr[i]) * (double)(lq[i] - lr[i]);
            sr += (lr[i] - mean) * (lr[i] - mean);
        }
        double rel = sqrt(se / sr);
        print_message("%s: greedy tokens equal to f32 for %d of %d steps; logits rms error "
                      "%.4f of their spread\n",
                      gf_wtype_name(q), agree, STEPS, rel);
        if (q == GF_WTYPE_Q8_0) {
            assert_int_equal(agree, STEPS);
            assert_true(rel < 0.05);
        } else {
            assert_true(rel < 0.2);
        }
    }
    free(lr), free(lq);
    mu_rmtree(dir);
}

/* gf_llm_copy_slot: a slot copied from another continues with the same bits as a slot that
 * computed the same tokens itself (in other chunks), with the f32 cache (as published) and the
 * q8_0 one (q4_0). The imagegen stage's pad slot rests on this. */
static void test_copy_slot(void **state)
{
    char *dir = s_mkmodel(4);
    assert_non_null(dir);
    enum { L = 13 };
    const int quants[] = {-1, GF_WTYPE_Q4_0}; /* as published: f32 cache; q4_0: q8_0 cache */
    for (int qi = 0; qi < 2; qi++) {
        struct s_run r = s_open(dir, quants[qi], 4, L + 2, L);
        struct gf_llm *m = r.m;
        int V = m->cfg->vocab;
        struct gf_tok toks[L];
        for (int i = 0; i < L; i++) /* a first token, then pads: the unconditional row */
            toks[i] = (struct gf_tok){i ? 7 : 1, 0, i, GF_TOK_TEXT, 0};
        assert_int_equal(gf_llm_forward(m, toks, L), 0); /* slot 0, in one call */
        for (int i = 0; i < L; i++)
            toks[i].slot = 2;
        assert_int_equal(gf_llm_forward(m, toks, 5), 0); /* slot 2 by itself, in two calls */
        assert_int_equal(gf_llm_forward(m, toks + 5, L - 5), 0);
        gf_llm_copy_slot(m, 1, 0, L);
        gf_llm_copy_slot(m, 3, 0, L - 1); /* one position short: must differ */
        struct gf_tok next[4];
        for (int k = 0; k < 4; k++)
            next[k] = (struct gf_tok){99, k, L, GF_TOK_TEXT, 1};
        assert_int_equal(gf_llm_forward(m, next, 4), 4);
        const float *l = gf_llm_text_logits(m);
        assert_memory_equal(l + V, l, V * sizeof *l);     /* the copy: slot 0's bits */
        assert_memory_equal(l + 2 * V, l, V * sizeof *l); /* computed again: the same */
        assert_memory_not_equal(l + 3 * V, l, V * sizeof *l);
        s_close(&r);
    }
    mu_rmtree(dir);
}

/* The handover (model/lm/kvfile.h): a slot decoded one token at a time (as the reason stage
 * does), written to a file and read into another slot, continues with the same bits as a slot
 * that prefilled the same tokens in one chunk (as imagegen does); a file of another identity,
 * of other tokens, too long for the request, or cut short is refused, a missing one is
 * GF_ENOTFOUND, and an unwritable path leaves no file. */
static void test_kvfile(void **state)
{
    char *dir = s_mkmodel(5);
    assert_non_null(dir);
    enum { L = 11 };
    const int quants[] = {-1, GF_WTYPE_Q4_0};
    uint64_t ids[2];
    char path[4200], bad[4300], why[4600];
    snprintf(path, sizeof path, "%s/slot.kv", dir);
    snprintf(bad, sizeof bad, "%s/no-such-dir/slot.kv", dir);
    for (int qi = 0; qi < 2; qi++) {
        struct s_run r = s_open(dir, quants[qi], 4, L + 2, L);
        struct gf_llm *m = r.m;
        int V = m->cfg->vocab;
        int32_t seq[L + 1];
        struct gf_tok toks[L];
        for (int i = 0; i <= L; i++)
            seq[i] = (i * 53 + 11) % V;
        for (int i = 0; i < L; i++) { /* slot 0 one token at a time; slot 2 in one chunk */
            struct gf_tok t = {seq[i], 0, i, GF_TOK_TEXT, 0};
            assert_int_equal(gf_llm_forward(m, &t, 1), 0);
            toks[i] = (struct gf_tok){seq[i], 2, i, GF_TOK_TEXT, 0};
        }
        assert_int_equal(gf_llm_forward(m, toks, L), 0);
        uint64_t id = ids[qi] = gf_kvfile_identity(m, r.ck, r.be);
        assert_int_equal(gf_kvfile_write(m, 0, seq, L, id, bad, why, sizeof why), GF_EIO);
        assert_int_equal(access(bad, F_OK), -1);
        assert_int_equal(gf_kvfile_read(m, 1, seq, L + 1, id, path, why, sizeof why), GF_ENOTFOUND);
        assert_int_equal(gf_kvfile_write(m, 0, seq, L, id, path, why, sizeof why), 0);
        assert_int_equal(gf_kvfile_read(m, 1, seq, L + 1, id + 1, path, why, sizeof why),
                         GF_EINVAL); /* another model */
        assert_int_equal(gf_kvfile_read(m, 1, seq, L, id, path, why, sizeof why),
                         GF_EINVAL); /* no position left to compute */
        seq[4]++;
        assert_int_equal(gf_kvfile_read(m, 1, seq, L + 1, id, path, why, sizeof why), GF_EINVAL);
        seq[4]--;
        assert_int_equal(gf_kvfile_read(m, 1, seq, L + 1, id, path, why, sizeof why), L);
        struct gf_tok next[3];
        for (int k = 0; k < 3; k++)
            next[k] = (struct gf_tok){seq[L], k, L, GF_TOK_TEXT, 1};
        assert_int_equal(gf_llm_forward(m, next, 3), 3);
        const float *l = gf_llm_text_logits(m);
        assert_memory_equal(l + V, l, V * sizeof *l);     /* read from the file: slot 0's bits */
        assert_memory_equal(l + 2 * V, l, V * sizeof *l); /* prefilled in one chunk: the same */
        FILE *f = fopen(path, "r+");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        assert_int_equal(ftruncate(fileno(f), ftell(f) - 1), 0);
        fclose(f);
        assert_int_equal(gf_kvfile_read(m, 3, seq, L + 1, id, path, why, sizeof why), GF_EINVAL);
        print_message("%s\n", why);
        remove(path);
        s_close(&r);
    }
    assert_true(ids[0] != ids[1]); /* the precision is part of the identity */
    mu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_greedy),
                                       cmocka_unit_test(test_copy_slot),
                                       cmocka_unit_test(test_kvfile)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
