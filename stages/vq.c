/* vq.c — the vq stage: an `image_tokens` frame in, an `image` frame out.
 *
 * Decodes `codes` (an i32 tensor [parallel, grid_h * grid_w]; `grid` [h, w]) with the
 * checkpoint's VQ-16 decoder (common/model/lm/vq.h) into pictures, converts them to RGB exactly as
 * the reference does (floor(clip((v + 1) / 2 * 255, 0, 255))) and adds `png` (one PNG per
 * picture) and `image_size` [H, W] to everything the request carried. The decoder is sized for
 * `params.max_images` pictures (default 16) of one grid and rebuilt when a frame brings another
 * grid. The checkpoint is the graph's `model:`, or the stage's `params.model`; `params.threads`
 * sets the CPU threads (default: all cores).
 *
 * When the checkpoint is the demo model (config.json has `gotflow_demo`), each picture is also
 * scored here, from the pixels it is encoded from (model/score/score.h: the planned objects of
 * the chain in `text` against the prompt in `caption`), and `scores` — one per picture, the map
 * gf_score_to_json() makes, or nil when it cannot be scored — is added: the fronts then answer
 * without decoding the PNG again. `params.score: 0` leaves it out (the fronts score the PNG).
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/stage.h"
#include "kernels/ops.h"
#include "model/lm/checkpoint.h"
#include "model/picture/image.h"
#include "model/picture/png.h"
#include "model/lm/vq.h"
#include "model/picture/layout.h"
#include "model/score/score.h"
#include "engine/json.h"

struct s_vq {
    gf_stage_t *st;
    struct gf_backend *be;
    struct gf_ckpt *ck;
    struct gf_vq *vq;
    int grid_h, grid_w, max_images;
    int score;  /* score the pictures (the demo model) */
    float *out; /* [max_images][3][H][W] */
};

/* What the pictures of one frame are scored against: the chain's planned objects and the
 * prompt. Empty (lay NULL) when the frame is not scored. */
struct s_plan {
    gf_layout_t *lay;
    char *prompt;
    int parsed; /* the chain parsed: the pictures are scored, else each score is nil */
};

/* The plan of frame f, when s scores and f has the chain (`text`) and the prompt (`caption`);
 * a frame without them gets no `scores` (the fronts do as before). 1 when the frame is scored. */
static int s_plan_read(const struct s_vq *s, const gf_frame_t *f, struct s_plan *p)
{
    const char *text, *caption;
    size_t len, caption_len;
    *p = (struct s_plan){0};
    if (!s->score || gf_frame_get_str(f, "text", &text, &len) != 0 ||
        gf_frame_get_str(f, "caption", &caption, &caption_len) != 0)
        return 0;
    if (!(p->prompt = strndup(caption, caption_len)))
        return 0;
    p->parsed = gf_layout_parse(text, len, &p->lay) == 0;
    return 1;
}

static void s_plan_release(struct s_plan *p)
{
    gf_layout_destroy(&p->lay);
    free(p->prompt);
}

/* The score of one picture, as the JSON map meta.json holds (caller owns), or NULL. */
static json_t *s_score_one(const struct s_plan *p, const struct gf_image *img)
{
    struct gf_score *sc = p->parsed ? malloc(sizeof *sc) : NULL;
    json_t *j = NULL;
    if (sc && gf_score_compute(img, gf_layout_objects(p->lay), gf_layout_n_objects(p->lay),
                               p->prompt, sc) == 0)
        j = gf_score_to_json(sc);
    free(sc);
    return j;
}

/* `scores`: one entry per picture, nil for a picture without a score. */
static void s_emit_scores(gf_emit_t *e, json_t **scores, int n)
{
    char why[128];
    msgpack_packer *pk = gf_emit_key(e, "scores");
    msgpack_pack_array(pk, (size_t)n);
    for (int k = 0; k < n; k++) {
        if (!scores[k] || gf_json_to_msgpack(scores[k], pk, why, sizeof why) != 0)
            msgpack_pack_nil(pk);
    }
}

/* A decode of a large picture on a slow CPU can outlast the heartbeat timeout: heartbeats go out
 * between its convolutions. */
static void s_tick(void *st)
{
    gf_stage_keepalive(st);
}

/* The decoder for this grid, rebuilt when the grid changes. */
static int s_decoder_for(struct s_vq *s, int grid_h, int grid_w)
{
    if (s->vq && s->grid_h == grid_h && s->grid_w == grid_w)
        return 0;
    gf_vq_destroy(&s->vq);
    free(s->out);
    s->out = NULL;
    int err = gf_vq_new(s->be, s->ck, s->max_images, grid_h, grid_w, &s->vq);
    if (err)
        return err;
    gf_vq_set_tick(s->vq, s_tick, s->st);
    int h, w;
    gf_vq_image_size(s->vq, &h, &w);
    s->out = malloc((size_t)s->max_images * 3 * (size_t)h * (size_t)w * sizeof *s->out);
    if (!s->out)
        return GF_ENOMEM;
    s->grid_h = grid_h;
    s->grid_w = grid_w;
    return 0;
}

static int s_read_grid(const gf_frame_t *f, const struct gf_tensor_view *codes, int *gh, int *gw)
{
    const msgpack_object *g = gf_frame_get(f, "grid");
    int64_t h, w;
    if (!g || g->type != MSGPACK_OBJECT_ARRAY || g->via.array.size != 2 ||
        gf_obj_int(&g->via.array.ptr[0], &h) || gf_obj_int(&g->via.array.ptr[1], &w) || h < 1 ||
        w < 1 || h > 256 || w > 256 || codes->shape[1] != h * w)
        return GF_ESCHEMA;
    *gh = (int)h;
    *gw = (int)w;
    return 0;
}

static void s_decode_one(gf_stage_t *st, struct s_vq *s, gf_frame_t **fp)
{
    gf_frame_t *f = *fp;
    struct gf_tensor_view codes;
    char why[256];
    int gh, gw, err;
    if (gf_frame_get_tensor(f, "codes", &codes, why, sizeof why) != 0 ||
        codes.dtype != GF_DTYPE_I32 || codes.ndim != 2) {
        gf_stage_fail(st, fp, GF_ESCHEMA, "'codes' must be an i32 tensor [images, h*w]");
        return;
    }
    if (s_read_grid(f, &codes, &gh, &gw) != 0) {
        gf_stage_fail(st, fp, GF_ESCHEMA, "'grid' must be [h, w] with h*w codes per image");
        return;
    }
    int n = (int)codes.shape[0];
    if (n < 1 || n > s->max_images) {
        gf_stage_fail(st, fp, GF_EINVAL, "%d images; this stage decodes 1..%d (params.max_images)",
                      n, s->max_images);
        return;
    }
    if ((err = s_decoder_for(s, gh, gw)) != 0) {
        gf_stage_fail(st, fp, err, "cannot build the decoder for a %dx%d grid", gh, gw);
        return;
    }
    int32_t *ids = malloc((size_t)codes.nbytes); /* the frame's bytes may be unaligned */
    if (!ids) {
        gf_stage_fail(st, fp, GF_ENOMEM, "out of memory");
        return;
    }
    memcpy(ids, codes.data, codes.nbytes);
    err = gf_vq_decode(s->vq, ids, n, s->out);
    free(ids);
    if (err) {
        gf_stage_fail(st, fp, err, "cannot decode the codes (a code outside the codebook?)");
        return;
    }
    int h, w;
    gf_vq_image_size(s->vq, &h, &w);
    struct s_plan plan;
    int scored = s_plan_read(s, f, &plan);
    json_t **scores = scored ? calloc((size_t)n, sizeof *scores) : NULL;
    scored = scores != NULL;
    gf_emit_t *e = gf_stage_begin(st, f, "image");
    msgpack_packer *pk = gf_emit_key(e, "png");
    msgpack_pack_array(pk, (size_t)n);
    struct gf_image img = {0};
    err = gf_image_init(&img, w, h);
    for (int k = 0; k < n; k++) {
        uint8_t *png = NULL;
        size_t len = 0;
        if (!err) {
            gf_image_pixels_chw(s->out + (size_t)k * 3 * (size_t)h * (size_t)w, h, w, img.rgb);
            err = gf_png_write_mem(&img, &png, &len);
            if (scored)
                scores[k] = s_score_one(&plan, &img);
        }
        msgpack_pack_bin_with_body(pk, png, png ? len : 0);
        free(png);
    }
    gf_image_release(&img);
    s_plan_release(&plan);
    if (scored && !err)
        s_emit_scores(e, scores, n);
    for (int k = 0; scores && k < n; k++)
        json_decref(scores[k]);
    free(scores);
    if (err) {
        gf_stage_fail(st, fp, err, "cannot encode the pictures");
        return;
    }
    pk = gf_emit_key(e, "image_size");
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, h);
    msgpack_pack_int(pk, w);
    gf_stage_send(st, f);
    gf_stage_done(st, fp);
}

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    struct s_vq *s = gf_stage_info(st)->user;
    for (int i = 0; i < n; i++)
        s_decode_one(st, s, &frames[i]);
    return 0;
}

static int s_init(gf_stage_t *st)
{
    struct gf_stage_info *info = gf_stage_info(st);
    const char *dir = gf_stage_model_dir(info);
    if (!dir)
        return GF_EINVAL;
    struct gf_backend *be = gf_stage_backend_new(info);
    if (!be)
        return GF_EUNSUPPORTED;
    struct s_vq *s = calloc(1, sizeof *s);
    if (!s) {
        gf_backend_destroy(&be);
        return GF_ENOMEM;
    }
    s->be = be;
    info->user = s;
    s->st = st;
    s->max_images = (int)gf_graph_param_long(info->def, "max_images", 16);
    s->score = gf_graph_param_long(info->def, "score", 1) != 0 && gf_score_is_demo_model(dir);
    int err = s->be ? gf_ckpt_open(dir, &s->ck) : GF_ENOMEM;
    if (err) {
        gf_log_error("cannot open the checkpoint '%s': %s", dir, gf_strerror(err));
        return err;
    }
    /* build (and so check) the decoder for the configured grid now, not at the first request */
    struct gf_vq_config vc;
    if (gf_vq_config_load(dir, &vc) != 0)
        gf_vq_config_default(&vc);
    int grid = (int)gf_graph_param_long(info->def, "grid", gf_vq_config_grid(&vc));
    if ((err = s_decoder_for(s, grid, grid)) != 0)
        gf_log_error("cannot build the VQ decoder of '%s' for a %dx%d grid", dir, grid, grid);
    return err;
}

static void s_shutdown(gf_stage_t *st)
{
    struct s_vq *s = gf_stage_info(st)->user;
    if (!s)
        return;
    gf_vq_destroy(&s->vq);
    free(s->out);
    gf_ckpt_close(&s->ck);
    gf_backend_destroy(&s->be);
    free(s);
}

static const struct gf_stage_ops s_ops = {
    .kind = "vq",
    .init = s_init,
    .process = s_process,
    .shutdown = s_shutdown,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
