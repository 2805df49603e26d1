/* generate.h — writing what a generation result holds into files (gotflow generate). */
#ifndef GF_TOOLS_GENERATE_H
#define GF_TOOLS_GENERATE_H

#include <jansson.h>

#include "engine/frame.h"
#include "engine/graph.h"

struct gf_generate_meta {
    const char *prompt, *model, *pipeline;
    long long seed;
    double cfg_weight, text_temp, image_temp;
    long parallel, max_tokens;
    int demo; /* the model is the demo model (the answer gets a layout score): 1 yes, -1 no,
                 0 look at its config.json */
};

/* Which parameters of a gf_generate_meta the caller set (the others take defaults). */
enum {
    GF_GENERATE_HAVE_CFG = 1,
    GF_GENERATE_HAVE_TEXT_TEMP = 2,
    GF_GENERATE_HAVE_IMAGE_TEMP = 4,
    GF_GENERATE_HAVE_PARALLEL = 8,
    GF_GENERATE_HAVE_MAX_TOKENS = 16,
};

/* Fills in the parameters not in `have` as the stages will: the graph's stage params, else the
 * checkpoint's generation_config.json, else GoT-R1's defaults (for meta.json). 0, or 1 with
 * `why` saying why the checkpoint cannot be used. */
int gf_generate_defaults(const gf_graph_t *g, unsigned have, struct gf_generate_meta *m, char *why,
                         size_t whylen);

/* The meta.json object of a `result` answer (caller owns): id, prompt, params, model, pipeline,
 * gotflow_version, timings_ms, and `score` for the demo model. */
json_t *gf_generate_meta_json(const gf_frame_t *answer, const struct gf_generate_meta *m);

/* Writes OUT/ID/{image_K.png, reasoning.txt, layout.json, layout.png, overlay.png, meta.json}
 * from the answer (a `result` or an `error` frame), each file only when the answer has its data,
 * and prints what was written (a JSON object with `as_json`). Returns the exit status: 0, or 1
 * for an error answer or a file that cannot be written. */
int gf_generate_write(const gf_frame_t *answer, const char *out, const struct gf_generate_meta *m,
                      int as_json);

#endif
