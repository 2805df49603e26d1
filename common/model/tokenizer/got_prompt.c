/* got_prompt.c — GoT-R1's chat template and prompt encoding (what infer.py does before the
 * language model runs), reading every rule and id from the checkpoint directory. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/tokenizer/got_prompt.h"
#include "model/tokenizer/tok_internal.h"

static const char *const s_got_tokens[] = {"<|box_start|>", "<|box_end|>", "<|obj_start|>",
                                           "<|obj_end|>"};

/* Python str.isspace, for str.strip(): Unicode whitespace plus the separators U+001C..U+001F. */
static bool s_py_space(uint32_t cp)
{
    return gf_uc_is_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F);
}

static void s_strip(const char *s, size_t *a_p, size_t *b_p)
{
    size_t a = 0, b = strlen(s);
    uint32_t cp;
    while (a < b) {
        size_t k = gf_utf8_next(s + a, b - a, &cp);
        if (!s_py_space(cp))
            break;
        a += k;
    }
    while (b > a) {
        size_t m = 1;
        while (m < b - a && ((unsigned char)s[b - m] & 0xC0) == 0x80)
            m++;
        gf_utf8_next(s + b - m, m, &cp);
        if (!s_py_space(cp))
            break;
        b -= m;
    }
    *a_p = a;
    *b_p = b;
}

int gf_got_format_prompt(const char *sft_format, const char *caption, char **prompt_p)
{
    *prompt_p = NULL;
    /* both DeepSeek formats: roles from the messages, sep "\n\n", empty system prompt */
    if (strcmp(sft_format, "deepseek") != 0 && strcmp(sft_format, "deepseek_old") != 0)
        return GF_EUNSUPPORTED;
    size_t cl = strlen(caption);
    if (gf_utf8_valid_prefix(caption, cl) != cl)
        return GF_EINVAL;
    size_t pl = strlen(GF_GOT_PROMPT_PREFIX);
    char *wrapped = malloc(pl + cl + 1);
    if (!wrapped)
        return GF_ENOMEM;
    memcpy(wrapped, GF_GOT_PROMPT_PREFIX, pl);
    memcpy(wrapped + pl, caption, cl + 1);
    size_t a, b;
    s_strip(wrapped, &a, &b); /* the message content is .strip()ped */
    struct gf_buf out = {0};
    int rc = gf_buf_put(&out, "User: ", 6);
    if (!rc)
        rc = gf_buf_put(&out, wrapped + a, b - a);
    if (!rc)
        rc = gf_buf_put(&out, "\n\nAssistant:", 12);
    free(wrapped);
    if (rc) {
        gf_buf_release(&out);
        return rc;
    }
    *prompt_p = out.p;
    return 0;
}

/* A token name in tokenizer_config.json: a string or {"content": ...}. */
static const char *s_token_name(json_t *v)
{
    if (json_is_object(v))
        v = json_object_get(v, "content");
    return json_string_value(v);
}

static int s_read_configs(struct gf_got_tok *g, const char *dir, char **bos, char **eos, char *err,
                          size_t errlen)
{
    char path[4096];
    json_error_t je;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = json_load_file(path, 0, &je);
    if (!cfg && je.line >= 0 && je.position > 0) {
        snprintf(err, errlen, "'%s': line %d: %s", path, je.line, je.text);
        return GF_EPARSE;
    }
    json_t *v;
    g->add_bos = !(v = json_object_get(cfg, "add_bos_token")) || json_is_true(v);
    g->add_eos = json_is_true(json_object_get(cfg, "add_eos_token"));
    const char *b = s_token_name(json_object_get(cfg, "bos_token"));
    const char *e = s_token_name(json_object_get(cfg, "eos_token"));
    *bos = strdup(b ? b
                    : "<\xef\xbd\x9c"
                      "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
    *eos = strdup(e ? e
                    : "<\xef\xbd\x9c"
                      "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
    json_decref(cfg);
    if (!*bos || !*eos)
        return GF_ENOMEM;
    snprintf(path, sizeof path, "%s/processor_config.json", dir);
    json_t *proc = json_load_file(path, 0, &je);
    if (!proc && je.line >= 0 && je.position > 0) {
        snprintf(err, errlen, "'%s': line %d: %s", path, je.line, je.text);
        return GF_EPARSE;
    }
    const char *fmt = json_string_value(json_object_get(proc, "sft_format"));
    snprintf(g->sft_format, sizeof g->sft_format, "%s", fmt ? fmt : "deepseek");
    json_decref(proc);
    char *probe = NULL;
    int rc = gf_got_format_prompt(g->sft_format, "", &probe);
    free(probe);
    if (rc == GF_EUNSUPPORTED)
        snprintf(err, errlen, "'%s': unsupported sft_format '%s'", path, g->sft_format);
    return rc;
}

static int32_t s_id(const gf_tokenizer_t *tok, const char *name)
{
    int32_t id = gf_tokenizer_token_id(tok, name);
    return id < 0 ? -1 : id;
}

static int s_need(const char *dir, const char *name, int32_t id, char *err, size_t errlen)
{
    if (id >= 0)
        return 0;
    snprintf(err, errlen, "'%s/tokenizer.json': no token '%s'", dir, name);
    return GF_ENOTFOUND;
}

int gf_got_tok_new(const char *dir, struct gf_got_tok **got_p, char *why, size_t whylen)
{
    char path[4096], *bos = NULL, *eos = NULL;
    *got_p = NULL;
    struct gf_got_tok *g = calloc(1, sizeof *g);
    if (!g)
        return GF_ENOMEM;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = gf_tokenizer_load(path, &g->tok, why, whylen);
    if (!rc)
        rc = s_read_configs(g, dir, &bos, &eos, why, whylen);
    if (!rc)
        rc = gf_tokenizer_add_tokens(g->tok, s_got_tokens, 4);
    if (rc)
        goto out;
    struct gf_got_special *sp = &g->special;
    sp->bos = s_id(g->tok, bos);
    sp->eos = s_id(g->tok, eos);
    sp->pad = s_id(g->tok, "<\xef\xbd\x9c\xe2\x96\x81pad\xe2\x96\x81\xef\xbd\x9c>");
    sp->boi = s_id(g->tok, "<begin_of_image>");
    sp->eoi = s_id(g->tok, "<end_of_image>");
    sp->box_start = s_id(g->tok, s_got_tokens[0]);
    sp->box_end = s_id(g->tok, s_got_tokens[1]);
    sp->obj_start = s_id(g->tok, s_got_tokens[2]);
    sp->obj_end = s_id(g->tok, s_got_tokens[3]);
    if ((rc = s_need(dir, bos, sp->bos, why, whylen)) ||
        (rc = s_need(dir, "<\xef\xbd\x9c\xe2\x96\x81pad\xe2\x96\x81\xef\xbd\x9c>", sp->pad, why,
                     whylen)) ||
        (rc = s_need(dir, "<begin_of_image>", sp->boi, why, whylen)))
        goto out;
out:
    free(bos);
    free(eos);
    if (rc)
        gf_got_tok_destroy(&g);
    *got_p = g;
    return rc;
}

void gf_got_tok_destroy(struct gf_got_tok **got_p)
{
    if (!got_p || !*got_p)
        return;
    gf_tokenizer_destroy(&(*got_p)->tok);
    free(*got_p);
    *got_p = NULL;
}

int gf_got_encode_prompt(const struct gf_got_tok *got, const char *caption, struct gf_ids *ids)
{
    char *prompt = NULL;
    int rc = gf_got_format_prompt(got->sft_format, caption, &prompt);
    if (rc)
        return rc;
    /* LlamaTokenizerFast builds its own BOS/EOS template from tokenizer_config.json */
    if (got->add_bos)
        rc = gf_ids_push(ids, got->special.bos);
    if (!rc)
        rc = gf_tokenizer_encode(got->tok, prompt, strlen(prompt), 0, ids);
    if (!rc && got->add_eos && got->special.eos >= 0)
        rc = gf_ids_push(ids, got->special.eos);
    free(prompt);
    return rc;
}

int gf_got_prompt_ids(const char *dir, const char *caption, struct gf_ids *ids,
                      struct gf_got_special *special, char *why, size_t whylen)
{
    struct gf_got_tok *g = NULL;
    int rc = gf_got_tok_new(dir, &g, why, whylen);
    if (rc)
        return rc;
    rc = gf_got_encode_prompt(g, caption, ids);
    if (!rc && special)
        *special = g->special;
    if (rc)
        snprintf(why, whylen, "cannot encode the prompt: %s", gf_strerror(rc));
    gf_got_tok_destroy(&g);
    return rc;
}
