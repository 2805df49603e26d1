/* generate.h — writing what a generation result holds into files (gotflow generate). */
#ifndef GF_TOOLS_GENERATE_H
#define GF_TOOLS_GENERATE_H

#include "engine/frame.h"

struct gf_generate_meta {
    const char *prompt, *model, *pipeline;
    long long seed;
    double cfg_weight, text_temp, image_temp;
    long parallel, max_tokens;
};

/* Writes OUT/ID/{image_K.png, reasoning.txt, layout.json, layout.png, overlay.png, meta.json}
 * from the answer (a `result` or an `error` frame), each file only when the answer has its data,
 * and prints what was written (a JSON object with `as_json`). Returns the exit status: 0, or 1
 * for an error answer or a file that cannot be written. */
int gf_generate_write(const gf_frame_t *answer, const char *out, const struct gf_generate_meta *m,
                      int as_json);

#endif
