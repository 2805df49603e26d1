/* tokenize.c — the tokenize stage: a `prompt` frame in, a `tokens` frame out.
 *
 * Wraps the caption in `text` in GoT-R1's chat template (the sft format named by the
 * checkpoint's processor_config.json, BOS per its tokenizer_config.json; MODEL.md §1.2) and
 * encodes it with the checkpoint's tokenizer.json (common/model/tokenizer/got_prompt.h). Adds
 * `prompt_ids` (an i32 tensor [n]) and `special` (the ids later stages need, looked up by
 * string: bos, eos, pad, begin_of_image, end_of_image, box_start, box_end, obj_start, obj_end)
 * to everything the request carried. The checkpoint is the graph's `model:`, or the stage's
 * `params.model`. A frame without a `text` string, or with text that is not UTF-8, is answered
 * with an error; the stage keeps serving.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/stage.h"
#include "model/tokenizer/got_prompt.h"

static void s_pack_special(msgpack_packer *pk, const struct gf_got_special *sp)
{
    const struct {
        const char *name;
        int32_t id;
    } ids[] = {{"bos", sp->bos},          {"eos", sp->eos},
               {"pad", sp->pad},          {"begin_of_image", sp->boi},
               {"end_of_image", sp->eoi}, {"box_start", sp->box_start},
               {"box_end", sp->box_end},  {"obj_start", sp->obj_start},
               {"obj_end", sp->obj_end}};
    msgpack_pack_map(pk, sizeof ids / sizeof ids[0]);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        msgpack_pack_str_with_body(pk, ids[i].name, strlen(ids[i].name));
        msgpack_pack_int32(pk, ids[i].id);
    }
}

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    struct gf_got_tok *got = gf_stage_info(st)->user;
    for (int i = 0; i < n; i++) {
        const char *text;
        size_t len;
        if (gf_frame_get_str(frames[i], "text", &text, &len) != 0) {
            gf_stage_fail(st, &frames[i], GF_ESCHEMA, "no 'text' string (the caption)");
            continue;
        }
        size_t k = 0;
        while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' || text[k] == '\r'))
            k++;
        if (k == len) {
            gf_stage_fail(st, &frames[i], GF_EINVAL, "empty prompt: 'text' holds no caption");
            continue;
        }
        char *caption = strndup(text, len);
        struct gf_ids ids = {0};
        int err = caption ? gf_got_encode_prompt(got, caption, &ids) : GF_ENOMEM;
        free(caption);
        if (err) {
            gf_stage_fail(st, &frames[i], err,
                          err == GF_EINVAL ? "the caption is not valid UTF-8 text"
                                           : "cannot encode the caption");
            gf_ids_release(&ids);
            continue;
        }
        gf_emit_t *e = gf_stage_begin(st, frames[i], "tokens");
        int64_t shape[1] = {(int64_t)ids.n};
        gf_emit_tensor(e, "prompt_ids", GF_DTYPE_I32, shape, 1, ids.v);
        s_pack_special(gf_emit_key(e, "special"), &got->special);
        gf_ids_release(&ids);
        gf_stage_send(st, frames[i]);
        gf_stage_done(st, &frames[i]);
    }
    return 0;
}

static int s_init(gf_stage_t *st)
{
    struct gf_stage_info *info = gf_stage_info(st);
    const char *dir = gf_stage_model_dir(info);
    if (!dir)
        return GF_EINVAL;
    char err[1024];
    struct gf_got_tok *got = NULL;
    int rc = gf_got_tok_new(dir, &got, err, sizeof err);
    if (rc) {
        gf_log_error("cannot load the tokenizer of '%s': %s", dir, err);
        return rc;
    }
    gf_log_info("tokenizer of '%s' loaded (template '%s', bos %s)", dir, got->sft_format,
                got->add_bos ? "added" : "not added");
    info->user = got;
    return 0;
}

static void s_shutdown(gf_stage_t *st)
{
    struct gf_got_tok *got = gf_stage_info(st)->user;
    gf_got_tok_destroy(&got);
}

static const struct gf_stage_ops s_ops = {
    .kind = "tokenize",
    .init = s_init,
    .process = s_process,
    .shutdown = s_shutdown,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
