/* score.c — layout adherence of a demo-model picture (score.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "model/lm/config.h"
#include "model/score/score.h"

/* tools/demo-model/scenes.py PALETTE, in the same order */
static const struct gf_score_colour s_palette[] = {
    {"red", {220, 40, 40}},    {"orange", {245, 140, 30}}, {"yellow", {240, 215, 40}},
    {"green", {40, 170, 60}},  {"blue", {40, 90, 225}},    {"purple", {140, 60, 190}},
    {"pink", {250, 130, 200}}, {"brown", {130, 80, 35}},
};
enum { N_COLOURS = sizeof s_palette / sizeof s_palette[0] };
static const char *const s_shapes[] = {"square", "circle", "triangle", "diamond"};
enum { N_SHAPES = sizeof s_shapes / sizeof s_shapes[0] };
static const char *const s_rel_names[] = {
#define GF_X(name, word) word,
    GF_SCORE_RELATIONS(GF_X)
#undef GF_X
};

/* A pixel belongs to the nearest palette colour within this distance (RGB, squared) when no grey
 * is nearer. */
#define S_MAX_DIST2 (80 * 80)

const struct gf_score_colour *gf_score_palette(int *n)
{
    *n = N_COLOURS;
    return s_palette;
}

const char *gf_score_shape_name(int shape)
{
    return shape >= 0 && shape < N_SHAPES ? s_shapes[shape] : "?";
}

const char *gf_score_rel_name(enum gf_score_rel rel)
{
    return (int)rel >= 0 && rel < GF_REL_N ? s_rel_names[rel] : "?";
}

int gf_score_holds(enum gf_score_rel rel, const double a[4], const double b[4])
{
    double dx = (b[0] + b[2]) / 2 - (a[0] + a[2]) / 2, dy = (b[1] + b[3]) / 2 - (a[1] + a[3]) / 2;
    double adx = dx < 0 ? -dx : dx, ady = dy < 0 ? -dy : dy;
    switch (rel) {
    case GF_REL_LEFT_OF:
        return dx > 0 && adx > ady;
    case GF_REL_RIGHT_OF:
        return dx < 0 && adx > ady;
    case GF_REL_ABOVE:
        return dy > 0 && ady > adx;
    case GF_REL_BELOW:
        return dy < 0 && ady > adx;
    case GF_REL_NEXT_TO: {
        double ix = (a[2] < b[2] ? a[2] : b[2]) - (a[0] > b[0] ? a[0] : b[0]);
        double iy = (a[3] < b[3] ? a[3] : b[3]) - (a[1] > b[1] ? a[1] : b[1]);
        double inter = (ix > 0 ? ix : 0) * (iy > 0 ? iy : 0);
        double sa = (a[2] - a[0]) * (a[3] - a[1]), sb = (b[2] - b[0]) * (b[3] - b[1]);
        double gap = -ix > -iy ? -ix : -iy;
        return inter <= 0.1 * (sa < sb ? sa : sb) && (gap < 0 ? 0 : gap) <= GF_SCORE_NEXT_TO_GAP;
    }
    case GF_REL_INSIDE: {
        double t = GF_SCORE_INSIDE_TOL;
        return a[0] >= b[0] - t && a[1] >= b[1] - t && a[2] <= b[2] + t && a[3] <= b[3] + t &&
               (a[2] - a[0]) * (a[3] - a[1]) < (b[2] - b[0]) * (b[3] - b[1]);
    }
    default:
        return 0;
    }
}

/* --- words ------------------------------------------------------------------------------------ */

/* Splits text into lowercase ASCII words; returns how many (at most max). */
static int s_words(const char *text, char words[][16], int max)
{
    int n = 0;
    for (const char *p = text; *p && n < max;) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        int len = 0;
        while (isalpha((unsigned char)*p)) {
            if (len < 15)
                words[n][len++] = (char)tolower((unsigned char)*p);
            p++;
        }
        if (len)
            words[n][len] = 0, n++;
    }
    return n;
}

static int s_find(const char *w, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(w, names[i]) == 0)
            return i;
    return -1;
}

static int s_colour(const char *w)
{
    for (int i = 0; i < N_COLOURS; i++)
        if (strcmp(w, s_palette[i].name) == 0)
            return i;
    return -1;
}

/* The colour and shape a phrase names (the first of each), -1 where none. */
static void s_phrase(const char *phrase, int *colour, int *shape)
{
    char w[32][16];
    int n = s_words(phrase, w, 32);
    *colour = *shape = -1;
    for (int i = 0; i < n; i++) {
        if (*colour < 0)
            *colour = s_colour(w[i]);
        if (*shape < 0)
            *shape = s_find(w[i], s_shapes, N_SHAPES);
    }
}

/* Relation words at w[i], or -1; *len receives how many words it takes. */
static int s_relation_at(char w[][16], int n, int i, int *len)
{
    *len = 1;
    if (strcmp(w[i], "left") == 0 || strcmp(w[i], "right") == 0) {
        if (i + 1 < n && strcmp(w[i + 1], "of") == 0) {
            *len = 2;
            return w[i][0] == 'l' ? GF_REL_LEFT_OF : GF_REL_RIGHT_OF;
        }
        return -1;
    }
    if (strcmp(w[i], "above") == 0)
        return GF_REL_ABOVE;
    if (strcmp(w[i], "below") == 0)
        return GF_REL_BELOW;
    if (strcmp(w[i], "inside") == 0)
        return GF_REL_INSIDE;
    if (strcmp(w[i], "next") == 0 && i + 1 < n && strcmp(w[i + 1], "to") == 0) {
        *len = 2;
        return GF_REL_NEXT_TO;
    }
    return -1;
}

/* Prompt objects (a colour word, then within two words a shape word) and the relations between
 * the object before each relation phrase and the one after it. */
static void s_prompt(const char *prompt, struct gf_score *s)
{
    char w[128][16];
    int n = s_words(prompt, w, 128), pending = -1, last = -1;
    for (int i = 0; i < n; i++) {
        int c = s_colour(w[i]), len;
        if (c >= 0 && s->n_prompt < GF_SCORE_MAX_OBJECTS) {
            for (int j = i + 1; j < n && j <= i + 2; j++) {
                int sh = s_find(w[j], s_shapes, N_SHAPES);
                if (sh < 0)
                    continue;
                struct gf_score_prompt_object *p = &s->prompt[s->n_prompt];
                p->colour = c, p->shape = sh, p->planned = -1;
                if (pending >= 0 && last >= 0 && s->n_relations < GF_SCORE_MAX_RELATIONS) {
                    struct gf_score_relation *r = &s->rel[s->n_relations++];
                    r->rel = (enum gf_score_rel)pending, r->a = last, r->b = s->n_prompt;
                }
                pending = -1;
                last = s->n_prompt++;
                i = j;
                break;
            }
            continue;
        }
        int rel = s_relation_at(w, n, i, &len);
        if (rel >= 0) {
            pending = rel;
            i += len - 1;
        }
    }
}

/* --- segmentation ----------------------------------------------------------------------------- */

/* Palette class of each pixel (N_COLOURS for none), after the 3x3 majority filter. */
static void s_classify(const struct gf_image *img, uint8_t *raw, uint8_t *cls)
{
    int W = img->width, H = img->height, last = -1;
    for (int i = 0; i < W * H; i++) {
        const uint8_t *p = img->rgb + 3 * (size_t)i;
        /* the pictures are mostly flat: a pixel like the one before has its class */
        if (last >= 0 && memcmp(p, p - 3, 3) == 0) {
            raw[i] = (uint8_t)last;
            continue;
        }
        /* the greys of the backgrounds: the distance to the grey axis, which a palette colour
         * must beat */
        int m = (p[0] + p[1] + p[2]) / 3;
        int grey = (p[0] - m) * (p[0] - m) + (p[1] - m) * (p[1] - m) + (p[2] - m) * (p[2] - m);
        int best = N_COLOURS, bd = grey < S_MAX_DIST2 + 1 ? grey : S_MAX_DIST2 + 1;
        for (int c = 0; c < N_COLOURS; c++) {
            int dr = p[0] - s_palette[c].rgb[0], dg = p[1] - s_palette[c].rgb[1],
                db = p[2] - s_palette[c].rgb[2];
            int d = dr * dr + dg * dg + db * db;
            if (d < bd)
                bd = d, best = c;
        }
        raw[i] = (uint8_t)best;
        last = best;
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int c = raw[y * W + x], same = 0, seen = 0;
            if (y > 0 && y + 1 < H && x > 0 && x + 1 < W) { /* inside: no bounds to check */
                const uint8_t *a = raw + (y - 1) * W + x - 1, *b = a + W, *d = b + W;
                same = (a[0] == c) + (a[1] == c) + (a[2] == c) + (b[0] == c) + (b[1] == c) +
                       (b[2] == c) + (d[0] == c) + (d[1] == c) + (d[2] == c);
                cls[y * W + x] = 2 * same > 9 ? (uint8_t)c : (uint8_t)N_COLOURS;
                continue;
            }
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= H || xx < 0 || xx >= W)
                        continue;
                    seen++;
                    same += raw[yy * W + xx] == c;
                }
            cls[y * W + x] = 2 * same > seen ? (uint8_t)c : (uint8_t)N_COLOURS;
        }
}

/* The bounding box (pixels, end exclusive) of the 4-connected regions of colour c with at least
 * min_area pixels; returns their pixel count (0: none). `stack` holds W*H ints, `seen` W*H. */
static int s_regions(const uint8_t *cls, int W, int H, int c, int min_area, int *stack,
                     uint8_t *seen, int box[4])
{
    int total = 0;
    memset(seen, 0, (size_t)W * H);
    box[0] = W, box[1] = H, box[2] = 0, box[3] = 0;
    for (int start = 0; start < W * H; start++) {
        if (cls[start] != c || seen[start])
            continue;
        int top = 0, area = 0, b[4] = {W, H, 0, 0};
        stack[top++] = start;
        seen[start] = 1;
        while (top) {
            int i = stack[--top], x = i % W, y = i / W;
            area++;
            b[0] = x < b[0] ? x : b[0], b[1] = y < b[1] ? y : b[1];
            b[2] = x + 1 > b[2] ? x + 1 : b[2], b[3] = y + 1 > b[3] ? y + 1 : b[3];
            int nb[4] = {x > 0 ? i - 1 : -1, x + 1 < W ? i + 1 : -1, y > 0 ? i - W : -1,
                         y + 1 < H ? i + W : -1};
            for (int k = 0; k < 4; k++)
                if (nb[k] >= 0 && !seen[nb[k]] && cls[nb[k]] == c) {
                    seen[nb[k]] = 1;
                    stack[top++] = nb[k];
                }
        }
        if (area < min_area)
            continue;
        total += area;
        box[0] = b[0] < box[0] ? b[0] : box[0], box[1] = b[1] < box[1] ? b[1] : box[1];
        box[2] = b[2] > box[2] ? b[2] : box[2], box[3] = b[3] > box[3] ? b[3] : box[3];
    }
    return total;
}

static double s_iou(const double a[4], const double b[4])
{
    double ix = (a[2] < b[2] ? a[2] : b[2]) - (a[0] > b[0] ? a[0] : b[0]);
    double iy = (a[3] < b[3] ? a[3] : b[3]) - (a[1] > b[1] ? a[1] : b[1]);
    if (ix <= 0 || iy <= 0)
        return 0;
    double inter = ix * iy;
    double u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return u > 0 ? inter / u : 0;
}

int gf_score_compute(const struct gf_image *img, const struct gf_layout_object *objs, size_t n,
                     const char *prompt, struct gf_score *s)
{
    memset(s, 0, sizeof *s);
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return GF_EINVAL;
    int W = img->width, H = img->height, min_area = W * H / 2000 > 8 ? W * H / 2000 : 8;
    size_t np = (size_t)W * H;
    uint8_t *raw = malloc(np), *cls = malloc(np), *seen = malloc(np);
    int *stack = malloc(np * sizeof *stack);
    if (!raw || !cls || !seen || !stack) {
        free(raw), free(cls), free(seen), free(stack);
        return GF_ENOMEM;
    }
    s_classify(img, raw, cls);
    double sum = 0;
    for (size_t i = 0; i < n && s->n_objects < GF_SCORE_MAX_OBJECTS; i++) {
        struct gf_score_object *o = &s->obj[s->n_objects++];
        snprintf(o->phrase, sizeof o->phrase, "%s", objs[i].phrase ? objs[i].phrase : "");
        s_phrase(o->phrase, &o->colour, &o->shape);
        for (int k = 0; k < 4; k++)
            o->plan[k] = objs[i].box[k];
        if (o->colour < 0)
            continue;
        int box[4];
        o->pixels = s_regions(cls, W, H, o->colour, min_area, stack, seen, box);
        if (o->pixels > 0) {
            o->found = 1;
            o->box[0] = box[0] * 1000.0 / W, o->box[1] = box[1] * 1000.0 / H;
            o->box[2] = box[2] * 1000.0 / W, o->box[3] = box[3] * 1000.0 / H;
            o->iou = s_iou(o->plan, o->box);
        }
        s->scored++;
        sum += o->iou;
    }
    s->mean_iou = s->scored ? sum / s->scored : 0;
    if (prompt)
        s_prompt(prompt, s);
    for (int p = 0; p < s->n_prompt; p++) {
        struct gf_score_prompt_object *po = &s->prompt[p];
        for (int i = 0; i < s->n_objects && po->planned < 0; i++)
            if (s->obj[i].colour == po->colour && s->obj[i].shape == po->shape)
                po->planned = i;
        s->named += po->planned >= 0;
    }
    for (int r = 0; r < s->n_relations; r++) {
        struct gf_score_relation *rel = &s->rel[r];
        int a = s->prompt[rel->a].planned, b = s->prompt[rel->b].planned;
        if (a < 0 || b < 0)
            continue;
        rel->in_plan = gf_score_holds(rel->rel, s->obj[a].plan, s->obj[b].plan);
        rel->in_image = s->obj[a].found && s->obj[b].found &&
                        gf_score_holds(rel->rel, s->obj[a].box, s->obj[b].box);
    }
    free(raw), free(cls), free(seen), free(stack);
    return 0;
}

/* --- output ----------------------------------------------------------------------------------- */

static json_t *s_box(const double b[4])
{
    json_t *a = json_array();
    for (int k = 0; k < 4; k++)
        json_array_append_new(a, json_integer((json_int_t)(b[k] + 0.5)));
    return a;
}

static void s_name(const struct gf_score *s, int p, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s", s_palette[s->prompt[p].colour].name,
             gf_score_shape_name(s->prompt[p].shape));
}

json_t *gf_score_to_json(const struct gf_score *s)
{
    json_t *j = json_object(), *objs = json_array(), *po = json_array(), *rels = json_array();
    char a[48], b[48];
    for (int i = 0; i < s->n_objects; i++) {
        const struct gf_score_object *o = &s->obj[i];
        json_t *e = json_pack("{s:s, s:s?, s:s?, s:o, s:b}", "phrase", o->phrase, "colour",
                              o->colour >= 0 ? s_palette[o->colour].name : NULL, "shape",
                              o->shape >= 0 ? s_shapes[o->shape] : NULL, "plan", s_box(o->plan),
                              "found", o->found);
        if (o->found)
            json_object_set_new(e, "box", s_box(o->box));
        json_object_set_new(e, "iou", json_real(o->iou));
        json_array_append_new(objs, e);
    }
    for (int p = 0; p < s->n_prompt; p++) {
        s_name(s, p, a, sizeof a);
        json_array_append_new(
            po, json_pack("{s:s, s:b}", "name", a, "named", s->prompt[p].planned >= 0));
    }
    for (int r = 0; r < s->n_relations; r++) {
        const struct gf_score_relation *rel = &s->rel[r];
        s_name(s, rel->a, a, sizeof a);
        s_name(s, rel->b, b, sizeof b);
        json_array_append_new(rels, json_pack("{s:s, s:s, s:s, s:b, s:b}", "a", a, "rel",
                                              gf_score_rel_name(rel->rel), "b", b, "in_plan",
                                              rel->in_plan, "in_image", rel->in_image));
    }
    json_object_set_new(j, "objects", objs);
    json_object_set_new(j, "prompt_objects", po);
    json_object_set_new(j, "relations", rels);
    json_object_set_new(j, "named", json_integer(s->named));
    json_object_set_new(j, "n_prompt_objects", json_integer(s->n_prompt));
    json_object_set_new(j, "mean_iou", json_real(s->mean_iou));
    return j;
}

/* A string member of a score's JSON object, "?" when it is not one (a score read from a frame). */
static const char *s_jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "?";
}

/* Element i of a box, clamped to what the grid can hold (a frame may carry any number). */
static long long s_jint(const json_t *a, size_t i)
{
    double v = json_number_value(json_array_get(a, i));
    return v > -1e6 && v < 1e6 ? (long long)v : 0;
}

void gf_score_print_json(const json_t *j, FILE *f)
{
    const json_t *objs = json_object_get(j, "objects"), *rels = json_object_get(j, "relations");
    size_t scored = 0;
    for (size_t i = 0; i < json_array_size(objs); i++)
        scored += json_is_string(json_object_get(json_array_get(objs, i), "colour"));
    fprintf(
        f, "layout score: mean IoU %.2f over %zu planned objects; prompt objects named %lld/%lld\n",
        json_number_value(json_object_get(j, "mean_iou")), scored,
        (long long)json_integer_value(json_object_get(j, "named")),
        (long long)json_integer_value(json_object_get(j, "n_prompt_objects")));
    for (size_t i = 0; i < json_array_size(objs); i++) {
        const json_t *o = json_array_get(objs, i), *p = json_object_get(o, "plan"),
                     *b = json_object_get(o, "box");
        if (!json_is_string(json_object_get(o, "colour")))
            fprintf(f, "  '%s': no palette colour, not scored\n", s_jstr(o, "phrase"));
        else if (!json_is_true(json_object_get(o, "found")))
            fprintf(f, "  '%s': not found in the picture (IoU 0)\n", s_jstr(o, "phrase"));
        else
            fprintf(f,
                    "  '%s': IoU %.2f (planned %lld,%lld-%lld,%lld, found %lld,%lld-%lld,%lld)\n",
                    s_jstr(o, "phrase"), json_number_value(json_object_get(o, "iou")), s_jint(p, 0),
                    s_jint(p, 1), s_jint(p, 2), s_jint(p, 3), s_jint(b, 0), s_jint(b, 1),
                    s_jint(b, 2), s_jint(b, 3));
    }
    for (size_t i = 0; i < json_array_size(rels); i++) {
        const json_t *o = json_array_get(rels, i);
        fprintf(f, "  %s %s %s: plan %s, picture %s\n", s_jstr(o, "a"), s_jstr(o, "rel"),
                s_jstr(o, "b"), json_is_true(json_object_get(o, "in_plan")) ? "yes" : "no",
                json_is_true(json_object_get(o, "in_image")) ? "yes" : "no");
    }
}

void gf_score_print(const struct gf_score *s, FILE *f)
{
    json_t *j = gf_score_to_json(s);
    if (j)
        gf_score_print_json(j, f);
    json_decref(j);
}

int gf_score_is_demo_model(const char *dir)
{
    char path[4096], *text = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir ? dir : "");
    if (!dir || access(path, R_OK) != 0 || gf_config_read(dir, path, sizeof path, &text) != 0)
        return 0;
    json_t *root = json_loads(text, 0, NULL);
    int yes = json_is_object(json_object_get(root, "gotflow_demo"));
    json_decref(root);
    free(text);
    return yes;
}
