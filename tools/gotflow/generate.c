/* generate.c — the files of `gotflow generate`, from the result frame. */
#include "generate.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/file.h"
#include "core/version.h"
#include "engine/json.h"
#include "model/lm/genconfig.h"
#include "model/picture/image.h"
#include "model/picture/layout.h"
#include "model/picture/png.h"
#include "model/picture/render.h"
#include "model/score/score.h"

struct s_out {
    char dir[4096];
    json_t *files;   /* names written */
    json_t *missing; /* names left out, with why */
    int failed;
};

static void s_path(const struct s_out *o, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", o->dir, name);
}

/* Writes OUT/ID/NAME durably (core/file.h): complete, or not there. Records the name, or
 * reports the failure with the path and the errno and marks the run failed. */
static int s_write_bytes(struct s_out *o, const char *name, const void *p, size_t n)
{
    char path[4200], why[4400];
    s_path(o, name, path, sizeof path);
    int err = gf_file_write_atomic(path, p, n, NULL, why, sizeof why);
    if (err) {
        fprintf(stderr, "gotflow generate: %s\n", why);
        o->failed = 1;
        return err;
    }
    json_array_append_new(o->files, json_string(name));
    return 0;
}

/* A picture: encoded in memory, then written as above. */
static int s_write_png(struct s_out *o, const char *name, const struct gf_image *img)
{
    uint8_t *png = NULL;
    size_t len = 0;
    int err = gf_png_write_mem(img, &png, &len);
    if (err) {
        fprintf(stderr, "gotflow generate: cannot encode '%s/%s': %s\n", o->dir, name,
                gf_strerror(err));
        o->failed = 1;
        return err;
    }
    err = s_write_bytes(o, name, png, len);
    free(png);
    return err;
}

/* A JSON document, indented, with a final newline. */
static int s_write_json(struct s_out *o, const char *name, const json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2));
    if (!text) {
        fprintf(stderr, "gotflow generate: cannot write '%s/%s': out of memory\n", o->dir, name);
        o->failed = 1;
        return GF_ENOMEM;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* over the NUL, which is not written */
    int err = s_write_bytes(o, name, text, len + 1);
    free(text);
    return err;
}

static void s_missing(struct s_out *o, const char *name, const char *why)
{
    json_object_set_new(o->missing, name, json_string(why));
}

/* image_K.png from `png` (one bin per image) or `pixels` (u8 [P, H, W, 3]); image 0 kept for the
 * overlay. Returns how many were written. */
static int s_images(struct s_out *o, const gf_frame_t *a, struct gf_image *first)
{
    char name[64];
    const msgpack_object *png = gf_frame_get(a, "png");
    struct gf_tensor_view t;
    int n = 0;
    if (png && png->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t k = 0; k < png->via.array.size; k++) {
            const msgpack_object *b = &png->via.array.ptr[k];
            if (b->type != MSGPACK_OBJECT_BIN)
                continue;
            snprintf(name, sizeof name, "image_%u.png", k);
            if (s_write_bytes(o, name, b->via.bin.ptr, b->via.bin.size) == 0)
                n++;
            if (k == 0)
                gf_png_read_mem(b->via.bin.ptr, b->via.bin.size, "image_0.png", first);
        }
    } else if (gf_frame_get_tensor(a, "pixels", &t, NULL, 0) == 0 && t.dtype == GF_DTYPE_U8 &&
               t.ndim == 4 && t.shape[3] == 3) {
        size_t per = (size_t)(t.shape[1] * t.shape[2] * 3);
        for (int64_t k = 0; k < t.shape[0]; k++) {
            struct gf_image img;
            if (gf_image_init(&img, (int)t.shape[2], (int)t.shape[1]) != 0)
                break;
            memcpy(img.rgb, (const uint8_t *)t.data + (size_t)k * per, per);
            snprintf(name, sizeof name, "image_%lld.png", (long long)k);
            if (s_write_png(o, name, &img) == 0)
                n++;
            if (k == 0)
                *first = img;
            else
                gf_image_release(&img);
        }
    }
    if (!n)
        s_missing(o, "image_0.png", "the result has no 'png' or 'pixels' (no vq stage?)");
    return n;
}

static void s_layout_files(struct s_out *o, const char *text, size_t len, struct gf_image *first)
{
    gf_layout_t *lay = NULL;
    if (gf_layout_parse(text, len, &lay) != 0)
        return;
    json_t *j = gf_layout_to_json(lay);
    s_write_json(o, "layout.json", j);
    json_decref(j);
    struct gf_image canvas;
    int side = first->rgb ? first->width : 384;
    if (gf_render_canvas(&canvas, side, first->rgb ? first->height : 384, gf_layout_objects(lay),
                         gf_layout_n_objects(lay)) == 0) {
        s_write_png(o, "layout.png", &canvas);
        gf_image_release(&canvas);
    }
    if (first->rgb) {
        gf_render_layout(first, gf_layout_objects(lay), gf_layout_n_objects(lay));
        s_write_png(o, "overlay.png", first);
    } else {
        s_missing(o, "overlay.png", "no image to draw the boxes over");
    }
    gf_layout_destroy(&lay);
}

/* The layout-adherence score of image 0 (score.h) is given for the demo model only. */
static int s_demo(const struct gf_generate_meta *m)
{
    return m->demo ? m->demo > 0 : gf_score_is_demo_model(m->model);
}

/* The score the vq stage carried for image 0 (`scores`, docs/protocol.md; caller owns), or NULL
 * with *carried 1 when it carried none for that picture; *carried 0 when the answer has no
 * `scores` (an older vq stage, or `score: 0`), for the caller to score the PNG itself. */
static json_t *s_carried(const gf_frame_t *a, int *carried)
{
    const msgpack_object *sc = gf_frame_get(a, "scores");
    *carried = sc && sc->type == MSGPACK_OBJECT_ARRAY && sc->via.array.size > 0 &&
               (sc->via.array.ptr[0].type == MSGPACK_OBJECT_MAP ||
                sc->via.array.ptr[0].type == MSGPACK_OBJECT_NIL);
    if (!*carried || sc->via.array.ptr[0].type != MSGPACK_OBJECT_MAP)
        return NULL;
    return gf_json_from_msgpack(&sc->via.array.ptr[0], 0);
}

/* The score of image 0 computed here from its pixels (first, decoded from the PNG). */
static json_t *s_score_pixels(const struct gf_generate_meta *m, const char *text, size_t len,
                              const struct gf_image *first)
{
    if (!first->rgb)
        return NULL;
    gf_layout_t *lay = NULL;
    if (gf_layout_parse(text, len, &lay) != 0)
        return NULL;
    struct gf_score *sc = malloc(sizeof *sc);
    json_t *j = NULL;
    if (sc && gf_score_compute(first, gf_layout_objects(lay), gf_layout_n_objects(lay), m->prompt,
                               sc) == 0)
        j = gf_score_to_json(sc);
    free(sc);
    gf_layout_destroy(&lay);
    return j;
}

/* A parameter the stages will use when the request does not give it: the graph's stage param
 * `key` of the first stage of `kind`, else the checkpoint's generation_config.json `name`, else
 * dflt (the stage's own default). */
static double s_default(const gf_graph_t *g, const struct gf_genconfig *gc, const char *kind,
                        const char *key, const char *name, double dflt)
{
    for (int i = 0; i < g->n_stages; i++) {
        if (strcmp(g->stages[i].kind, kind) != 0)
            continue;
        const char *v = gf_graph_param(&g->stages[i], key);
        char *end;
        double d = v ? strtod(v, &end) : 0;
        if (v && end != v && !*end)
            return d;
        break;
    }
    return gf_genconfig_get(gc, name, dflt);
}

int gf_generate_defaults(const gf_graph_t *g, unsigned have, struct gf_generate_meta *m, char *why,
                         size_t whylen)
{
    struct gf_genconfig gc = {0};
    char path[4200];
    struct stat st;
    if (g->model[0]) {
        snprintf(path, sizeof path, "%s/config.json", g->model);
        if (stat(path, &st) != 0) {
            snprintf(why, whylen,
                     "no checkpoint in '%s' (no config.json); the demo model is "
                     "models/got-r1-demo, --model DIR names another",
                     g->model);
            return 1;
        }
        if (gf_genconfig_load(g->model, &gc, why, whylen) < 0)
            return 1;
    }
    if (!(have & GF_GENERATE_HAVE_CFG))
        m->cfg_weight = s_default(g, &gc, "imagegen", "cfg_weight", "cfg_weight", 5.0);
    if (!(have & GF_GENERATE_HAVE_TEXT_TEMP))
        m->text_temp = s_default(g, &gc, "reason", "temperature", "text_temperature", 1.0);
    if (!(have & GF_GENERATE_HAVE_IMAGE_TEMP))
        m->image_temp = s_default(g, &gc, "imagegen", "temperature", "image_temperature", 1.0);
    if (!(have & GF_GENERATE_HAVE_PARALLEL))
        m->parallel = (long)s_default(g, &gc, "imagegen", "parallel", "parallel_size", 1);
    if (!(have & GF_GENERATE_HAVE_MAX_TOKENS))
        m->max_tokens = (long)s_default(g, &gc, "reason", "max_tokens", "max_tokens", 600);
    return 0;
}

static json_t *s_meta(const gf_frame_t *a, const struct gf_generate_meta *m)
{
    json_t *j = json_object(), *p = json_object();
    json_object_set_new(j, "id", json_string(a->id));
    json_object_set_new(j, "prompt", json_string(m->prompt));
    json_object_set_new(p, "seed", json_integer(m->seed));
    json_object_set_new(p, "cfg_weight", json_real(m->cfg_weight));
    json_object_set_new(p, "text_temperature", json_real(m->text_temp));
    json_object_set_new(p, "image_temperature", json_real(m->image_temp));
    json_object_set_new(p, "parallel", json_integer(m->parallel));
    json_object_set_new(p, "max_tokens", json_integer(m->max_tokens));
    json_object_set_new(j, "params", p);
    json_object_set_new(j, "model", json_string(m->model ? m->model : ""));
    json_object_set_new(j, "pipeline", json_string(m->pipeline));
    json_object_set_new(j, "gotflow_version", json_string(GF_VERSION));
    const msgpack_object *t = gf_frame_get(a, "timings");
    json_object_set_new(j, "timings_ms", t ? gf_json_from_msgpack(t, 0) : json_null());
    return j;
}

json_t *gf_generate_meta_json(const gf_frame_t *answer, const struct gf_generate_meta *m)
{
    json_t *meta = s_meta(answer, m), *score = NULL;
    const msgpack_object *png = gf_frame_get(answer, "png");
    const char *text;
    size_t len;
    int carried;
    if (gf_frame_get_str(answer, "text", &text, &len) != 0 || !s_demo(m))
        return meta;
    score = s_carried(answer, &carried);
    if (!carried && png && png->type == MSGPACK_OBJECT_ARRAY && png->via.array.size > 0 &&
        png->via.array.ptr[0].type == MSGPACK_OBJECT_BIN) {
        struct gf_image first = {0};
        if (gf_png_read_mem(png->via.array.ptr[0].via.bin.ptr, png->via.array.ptr[0].via.bin.size,
                            "image_0.png", &first) == 0)
            score = s_score_pixels(m, text, len, &first);
        gf_image_release(&first);
    }
    if (score)
        json_object_set_new(meta, "score", score);
    return meta;
}

int gf_generate_write(const gf_frame_t *answer, const char *out, const struct gf_generate_meta *m,
                      int as_json)
{
    if (strcmp(answer->kind, "error") == 0) {
        json_t *j = gf_json_from_msgpack(answer->root, 256);
        char *s = json_dumps(j, JSON_COMPACT);
        fprintf(stderr, "gotflow generate: the pipeline answered an error: %s\n", s);
        free(s);
        json_decref(j);
        return 1;
    }
    struct s_out o = {.files = json_array(), .missing = json_object()};
    snprintf(o.dir, sizeof o.dir, "%s/%s", out, answer->id);
    const char *fail_dir = mkdir(out, 0755) != 0 && errno != EEXIST     ? out
                           : mkdir(o.dir, 0755) != 0 && errno != EEXIST ? o.dir
                                                                        : NULL;
    if (fail_dir) {
        fprintf(stderr, "gotflow generate: cannot create '%s': %s\n", fail_dir, strerror(errno));
        json_decref(o.files);
        json_decref(o.missing);
        return 1;
    }
    struct gf_image first = {0};
    s_images(&o, answer, &first);
    const char *text;
    size_t len;
    json_t *score = NULL;
    if (gf_frame_get_str(answer, "text", &text, &len) == 0 && strcmp(answer->kind, "result") == 0) {
        s_write_bytes(&o, "reasoning.txt", text, len);
        int carried = 0;
        if (s_demo(m) && !(score = s_carried(answer, &carried)) && !carried)
            score = s_score_pixels(m, text, len, &first);
        if (score && !as_json)
            gf_score_print_json(score, stdout);
        s_layout_files(&o, text, len, &first);
    } else {
        s_missing(&o, "reasoning.txt", "the result has no reasoning 'text'");
    }
    gf_image_release(&first);
    json_t *meta = s_meta(answer, m);
    json_object_set(meta, "files", o.files);
    if (score)
        json_object_set_new(meta, "score", score);
    s_write_json(&o, "meta.json", meta);
    if (as_json) {
        json_object_set_new(meta, "dir", json_string(o.dir));
        json_object_set(meta, "missing", o.missing);
        char *s = json_dumps(meta, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
    } else {
        printf("\nwrote %s/:", o.dir);
        size_t i;
        json_t *f;
        json_array_foreach(o.files, i, f) printf(" %s", json_string_value(f));
        printf("\n");
        const char *k;
        json_t *v;
        json_object_foreach(o.missing, k, v)
            printf("not written: %s (%s)\n", k, json_string_value(v));
    }
    json_decref(meta);
    json_decref(o.files);
    json_decref(o.missing);
    return o.failed;
}
