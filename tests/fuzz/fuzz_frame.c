/* fuzz_frame.c — libFuzzer target for the frame decoder: any bytes either decode into a frame
 * whose every key, tensor and JSON rendering can be read, or are refused; nothing crashes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/frame.h"
#include "engine/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gf_frame_t *f = NULL;
    char why[256], id[GF_FRAME_ID_MAX];
    if (gf_frame_decode(data, size, 1 << 20, &f, why, sizeof why, id) != 0)
        return 0;
    /* read everything a stage might */
    for (uint32_t i = 0; i < f->root->via.map.size; i++) {
        struct gf_tensor_view t;
        gf_obj_tensor(&f->root->via.map.ptr[i].val, &t, why, sizeof why);
    }
    json_t *j = gf_json_from_msgpack(f->root, 64);
    json_decref(j);
    /* and pass it on, as the runtime does */
    gf_emit_t e;
    gf_emit_init(&e);
    gf_emit_begin(&e, f, "tokens");
    gf_emit_carry(&e, f);
    gf_emit_end(&e, "fuzz", 0, 0);
    gf_frame_t *g = NULL;
    if (gf_frame_decode(gf_emit_data(&e), gf_emit_len(&e), 0, &g, why, sizeof why, id) != 0)
        abort(); /* what we build from a valid frame must itself be valid */
    gf_frame_destroy(&g);
    gf_emit_release(&e);
    gf_frame_destroy(&f);
    return 0;
}
