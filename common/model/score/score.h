/* score.h — layout adherence of a demo-model picture: GoT-R1's reasoning-to-image reward (R_RI,
 * MODEL.md §7) made concrete for the synthetic scenes of tools/demo-model/ (docs/demo-model.md).
 *
 * Three questions, each answered from what a request produced:
 *   1. does the chain name the prompt's objects? Each prompt object (a palette colour word then
 *      a shape word, e.g. "red circle") is matched to the first planned object whose phrase has
 *      the same colour and shape;
 *   2. does the plan satisfy the prompt's relations? Each relation phrase of the prompt ("to the
 *      left of", "above", "next to", "inside", ...) links the prompt object before it to the one
 *      after it, and is checked on their planned boxes;
 *   3. does the picture follow the plan? The picture is segmented by the eight palette colours
 *      (nearest colour within a distance and nearer than any grey, kept where most of its 3x3
 *      neighbourhood agrees; the grey backgrounds match none); for each planned object with a
 * palette colour, the bounding box of that colour's connected regions (those of at least min_area
 * pixels) is compared with the planned box (IoU), and each prompt relation is checked again on the
 * found boxes.
 *
 * The palette and the relation rules are the scene generator's (tools/demo-model/scenes.py);
 * keep the two in step. Coordinates are on the chain's 0..1000 grid throughout.
 *
 * Ownership: struct gf_score is caller-owned storage with no pointers inside. Thread-safe.
 */
#ifndef GF_MODEL_SCORE_H
#define GF_MODEL_SCORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/picture/image.h"
#include "model/picture/layout.h"

#define GF_SCORE_MAX_OBJECTS 16
#define GF_SCORE_MAX_RELATIONS 8
#define GF_SCORE_NEXT_TO_GAP 150 /* most space between boxes "next to" each other */
#define GF_SCORE_INSIDE_TOL 30   /* how far a box "inside" another may stick out */

/* Relations: X(enum name, word in JSON). */
#define GF_SCORE_RELATIONS(X)                                                                      \
    X(GF_REL_LEFT_OF, "left of")                                                                   \
    X(GF_REL_RIGHT_OF, "right of")                                                                 \
    X(GF_REL_ABOVE, "above")                                                                       \
    X(GF_REL_BELOW, "below")                                                                       \
    X(GF_REL_NEXT_TO, "next to")                                                                   \
    X(GF_REL_INSIDE, "inside")

enum gf_score_rel {
#define GF_X(name, word) name,
    GF_SCORE_RELATIONS(GF_X)
#undef GF_X
        GF_REL_N
};

struct gf_score_colour {
    const char *name;
    uint8_t rgb[3];
};

/* The eight palette colours (borrowed, static); *n receives 8. */
const struct gf_score_colour *gf_score_palette(int *n);
/* Shape words: "square", "circle", "triangle", "diamond". */
const char *gf_score_shape_name(int shape);
const char *gf_score_rel_name(enum gf_score_rel rel);

/* Whether box a (x1, y1, x2, y2) stands in relation rel to box b; any common scale. */
int gf_score_holds(enum gf_score_rel rel, const double a[4], const double b[4]);

struct gf_score_object {
    char phrase[64]; /* the planned phrase, cut to fit */
    int colour;      /* palette index named in the phrase, or -1 */
    int shape;       /* shape index named in the phrase, or -1 */
    double plan[4];  /* planned box */
    int found;       /* a region of its colour was found in the picture */
    double box[4];   /* the found box (when found) */
    int pixels;      /* pixels of its colour in the kept regions */
    double iou;      /* planned vs found box; 0 when not found */
};

struct gf_score_prompt_object {
    int colour, shape; /* indices */
    int planned;       /* index of the planned object that names it, or -1 */
};

struct gf_score_relation {
    enum gf_score_rel rel;
    int a, b;     /* prompt objects */
    int in_plan;  /* holds on the planned boxes (0 when either object is not planned) */
    int in_image; /* holds on the found boxes (0 when either is not found) */
};

struct gf_score {
    int n_objects; /* planned objects scored (at most GF_SCORE_MAX_OBJECTS) */
    struct gf_score_object obj[GF_SCORE_MAX_OBJECTS];
    int n_prompt;
    struct gf_score_prompt_object prompt[GF_SCORE_MAX_OBJECTS];
    int n_relations;
    struct gf_score_relation rel[GF_SCORE_MAX_RELATIONS];
    int named;       /* prompt objects named by the chain */
    int scored;      /* planned objects with a palette colour (the IoU mean's count) */
    double mean_iou; /* over those; 0 when there are none */
};

/* Scores the picture against the planned objects and the prompt (either may be empty). Returns
 * 0, or GF_EINVAL for a picture without pixels, GF_ENOMEM. */
int gf_score_compute(const struct gf_image *img, const struct gf_layout_object *objs, size_t n,
                     const char *prompt, struct gf_score *out);

/* {"objects": [{"phrase", "colour", "shape", "plan", "found", "box", "iou"}],
 *  "prompt_objects": [{"name", "named"}], "relations": [{"a", "rel", "b", "in_plan",
 *  "in_image"}], "named", "n_prompt_objects", "mean_iou"}; caller owns (json_decref). */
json_t *gf_score_to_json(const struct gf_score *s);

/* A few lines for a person: per object its IoU, per relation plan and picture. */
void gf_score_print(const struct gf_score *s, FILE *f);
/* The same lines from the JSON form (gf_score_to_json's, e.g. read back from a frame's `scores`);
 * members of the wrong type print as 0 or "?". Boxes print as the JSON's rounded numbers. */
void gf_score_print_json(const json_t *j, FILE *f);

/* Whether the checkpoint in `dir` is the demo model: its config.json has a `gotflow_demo` object.
 * 1, 0 (no such key, or no readable config.json). */
int gf_score_is_demo_model(const char *dir);

#endif
