/* tokenizer.c — tokenizer.json for a mkmodel checkpoint: a base tokenizer (e.g. DeepSeek-LLM's)
 * or, without one, a byte-level vocabulary of 256 tokens; then the added tokens of Janus-Pro
 * (pad, image tags, roles) and of GoT-R1 (boxes and objects), with ids after the base ones. The
 * engine finds them by string, so their order here is a choice, not a fact (MODEL.md §2.6). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "write.h"

static const char *const s_special[] = {"<｜▁pad▁｜>",
                                        "<image_placeholder>",
                                        "<patch_placeholder>",
                                        "<begin_of_image>",
                                        "<end_of_image>",
                                        "<|ref|>",
                                        "<|/ref|>",
                                        "<|det|>",
                                        "<|/det|>",
                                        "<|grounding|>",
                                        "<|User|>",
                                        "<|Assistant|>"};
static const char *const s_got[] = {"<|box_start|>", "<|box_end|>", "<|obj_start|>", "<|obj_end|>"};

static json_t *s_added(int id, const char *content, int special)
{
    return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", content,
                     "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", !special, "special",
                     special);
}

/* GPT-2 byte-to-unicode: printable bytes stand for themselves, the rest map to U+0100 on. */
static void s_byte_char(int b, char out[4])
{
    int cp = b, n = 0;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
        for (int i = 0; i < b; i++)
            if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255)))
                n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
    }
}

static json_t *s_byte_level(void)
{
    json_t *vocab = json_object();
    for (int b = 0; b < 256; b++) {
        char c[4];
        s_byte_char(b, c);
        json_object_set_new(vocab, c, json_integer(b));
    }
    json_t *bos =
        json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", "<｜begin▁of▁sentence｜>", "type_id", 0);
    json_t *seq = json_pack("{s:{s:s, s:i}}", "Sequence", "id", "A", "type_id", 0);
    return json_pack(
        "{s:s, s:n, s:n, s:[], s:{s:s, s:[]}, s:{s:s, s:b, s:b, s:b}, s:{s:s, s:[o, o], s:[], "
        "s:{s:{s:s, s:[i], s:[s]}}}, s:{s:s, s:b, s:b, s:b}, s:{s:s, s:n, s:n, s:n, s:n, s:b, "
        "s:b, s:o, s:[]}}",
        "version", "1.0", "truncation", "padding", "added_tokens", "normalizer", "type", "Sequence",
        "normalizers", "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets",
        1, "use_regex", 0, "post_processor", "type", "TemplateProcessing", "single", bos, seq,
        "pair", "special_tokens", "<｜begin▁of▁sentence｜>", "id", "<｜begin▁of▁sentence｜>", "ids",
        256, "tokens", "<｜begin▁of▁sentence｜>", "decoder", "type", "ByteLevel",
        "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0, "model", "type", "BPE", "dropout",
        "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0,
        "byte_fallback", 0, "vocab", vocab, "merges");
}

int mk_write_tokenizer(const struct mk_opts *o)
{
    json_t *t;
    if (o->tokenizer) {
        json_error_t err;
        if (!(t = json_load_file(o->tokenizer, 0, &err))) {
            gf_log_error("cannot read '%s': %s", o->tokenizer, err.text);
            return -1;
        }
    } else {
        if (!(t = s_byte_level()))
            return -1;
        json_t *added = json_object_get(t, "added_tokens");
        json_array_append_new(added, s_added(256, "<｜begin▁of▁sentence｜>", 1));
        json_array_append_new(added, s_added(257, "<｜end▁of▁sentence｜>", 1));
    }
    json_t *added = json_object_get(t, "added_tokens"), *e;
    json_t *vocab = json_object_get(json_object_get(t, "model"), "vocab");
    if (!json_is_array(added) || !json_is_object(vocab)) {
        gf_log_error("'%s': no added_tokens array or model.vocab object", o->tokenizer);
        json_decref(t);
        return -1;
    }
    int next = (int)json_object_size(vocab);
    size_t i;
    json_array_foreach(added, i, e)
    {
        int id = (int)json_integer_value(json_object_get(e, "id"));
        next = id + 1 > next ? id + 1 : next;
    }
    for (i = 0; i < sizeof s_special / sizeof s_special[0]; i++)
        json_array_append_new(added, s_added(next++, s_special[i], 1));
    for (i = 0; i < sizeof s_got / sizeof s_got[0]; i++)
        json_array_append_new(added, s_added(next++, s_got[i], 0));
    if (next > o->cfg.vocab) {
        gf_log_error("the tokenizer needs %d ids but --vocab is %d", next, o->cfg.vocab);
        json_decref(t);
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", o->out);
    int rc = json_dump_file(t, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(t);
    if (rc != 0)
        gf_log_error("cannot write '%s'", path);
    return rc ? -1 : 0;
}
