/* stage_backend.c — a model stage's backend, from its device in the graph, and its checkpoint. */
#include <stdlib.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/graph.h"
#include "engine/stage.h"
#include "kernels/ops.h"
#include "model/lm/checkpoint.h"

/* params.precision, else on the CPU the environment's GOTFLOW_PRECISION (set by gotflow
 * generate --precision for the pipeline it starts) */
static const char *s_precision(const struct gf_stage_info *info)
{
    const char *prec = gf_graph_param(info->def, "precision");
    if (!prec && info->device.type == GF_DEVICE_CPU)
        prec = getenv("GOTFLOW_PRECISION");
    return prec;
}

struct gf_backend *gf_stage_backend_new(const struct gf_stage_info *info)
{
    const struct gf_stage_def *def = info->def;
    const char *prec = s_precision(info);
    int quant;
    if (gf_precision_parse(prec, &quant) < 0) {
        gf_log_error("stage '%s': precision '%s' is not bf16, f32, q8_0 or q4_0", def->name, prec);
        return NULL;
    }
    if (info->device.type == GF_DEVICE_CPU) {
        struct gf_backend *be = gf_backend_cpu_new((int)gf_graph_param_long(def, "threads", 0));
        if (gf_precision_exact(prec))
            gf_backend_cpu_exact(be);
        return be;
    }
    enum gf_cuda_mode mode;
    if (gf_cuda_mode_parse(prec, &mode) < 0) {
        gf_log_error("stage '%s': precision '%s' is for the CPU; on cuda:%d use bf16 or f32",
                     def->name, prec, info->device.index);
        return NULL;
    }
    struct gf_backend *be = gf_backend_cuda_new(info->device.index, mode);
    if (!be)
        gf_log_error("stage '%s' replica %d: cannot start on cuda:%d (see above)", def->name,
                     info->replica, info->device.index);
    else
        gf_log_info("stage '%s' replica %d on cuda:%d (%s)", def->name, info->replica,
                    info->device.index, mode == GF_CUDA_F32 ? "f32" : "bf16");
    return be;
}

const char *gf_stage_model_dir(const struct gf_stage_info *info)
{
    const char *dir = gf_graph_param(info->def, "model");
    if (!dir)
        dir = info->graph->model;
    if (!dir || !*dir) {
        gf_log_error("no checkpoint: set 'model:' in the graph or 'params.model' of stage '%s'",
                     info->def->name);
        return NULL;
    }
    return dir;
}

int gf_stage_precision(const struct gf_stage_info *info, struct gf_ckpt *ck)
{
    const char *prec = s_precision(info);
    int quant, rc;
    if (gf_precision_parse(prec, &quant) < 0)
        return 0; /* a bad name was refused by gf_stage_backend_new */
    if ((rc = gf_ckpt_precision(ck, prec)) < 0 || quant < 0)
        return rc;
    gf_log_info("stage '%s' replica %d: language model weights quantized to %s at load",
                info->def->name, info->replica, prec);
    return 0;
}
