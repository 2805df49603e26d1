/* graph.cu — decode steps recorded once as CUDA graphs and replayed: a 1B decode step is about
 * 350 small launches, whose launch cost is of the order of the step itself. Recording is stream
 * capture on the backend's stream (ops launch as usual, nothing runs), on a step shape's second
 * occurrence: the first runs as usual, so that lazily loaded kernels, cuBLAS's first-use set-up and
 * weight uploads (none of which may happen while capturing) are done; a failure while recording
 * (an op that cannot be captured, say a weight not yet resident) is not the model's failure: it
 * is taken back from the error count, graphs are turned off for this backend, and the caller
 * runs the ops as usual. Off unless GOTFLOW_CUDA_GRAPHS=1 (not yet run on a GPU). */
#include "kernels/cuda/cuda.h"

int gf_cuda_graph_begin(struct gf_backend *be)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (!c->use_graphs || c->capturing)
        return GF_EUNSUPPORTED;
    c->failed_before_capture = c->n_failed;
    c->logged_before_capture = c->n_logged;
    if (!GF_CU(c, cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal))) {
        c->n_failed = c->failed_before_capture;
        c->n_logged = c->logged_before_capture;
        c->use_graphs = 0;
        return GF_EIO;
    }
    c->capturing = 1;
    return 0;
}

static void s_forget(struct gf_cuda_graph *g)
{
    if (g->exec)
        cudaGraphExecDestroy(g->exec);
    g->exec = NULL;
    g->owner = NULL;
}

int gf_cuda_graph_end(struct gf_backend *be, const void *owner, uint64_t key)
{
    struct gf_cuda *c = gf_cuda_of(be);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    if (!c->capturing)
        return GF_EINVAL;
    c->capturing = 0;
    int ok = GF_CU(c, cudaStreamEndCapture(c->stream, &graph));
    ok = ok && c->n_failed == c->failed_before_capture &&
         GF_CU(c, cudaGraphInstantiate(&exec, graph, 0));
    if (graph)
        cudaGraphDestroy(graph);
    if (!ok) {
        cudaGetLastError();
        if (exec)
            cudaGraphExecDestroy(exec);
        c->n_failed = c->failed_before_capture;
        c->n_logged = c->logged_before_capture; /* so that later real failures are logged */
        c->use_graphs = 0;
        c->host.log(GF_LOG_WARN,
                    "cuda:%d: recording a decode step failed (logged above); "
                    "running without CUDA graphs",
                    c->device);
        return GF_EIO;
    }
    struct gf_cuda_graph *g = &c->graphs[c->next_graph];
    c->next_graph = (c->next_graph + 1) % GF_CUDA_GRAPHS;
    s_forget(g);
    *g = (struct gf_cuda_graph){owner, key, exec};
    return gf_cuda_graph_run(be, owner, key);
}

int gf_cuda_graph_run(struct gf_backend *be, const void *owner, uint64_t key)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (!c->use_graphs)
        return GF_EUNSUPPORTED;
    for (int i = 0; i < GF_CUDA_GRAPHS; i++)
        if (c->graphs[i].exec && c->graphs[i].owner == owner && c->graphs[i].key == key)
            return GF_CU(c, cudaGraphLaunch(c->graphs[i].exec, c->stream)) ? 0 : GF_EIO;
    for (int i = 0; i < GF_CUDA_GRAPHS; i++)
        if (c->seen[i].owner == owner && c->seen[i].key == key)
            return GF_ENOTFOUND; /* second sight: record it */
    c->seen[c->next_seen] = (struct gf_cuda_graph){owner, key, NULL};
    c->next_seen = (c->next_seen + 1) % GF_CUDA_GRAPHS;
    return GF_EAGAIN;
}

/* owner NULL: every graph */
void gf_cuda_graph_drop(struct gf_backend *be, const void *owner)
{
    struct gf_cuda *c = (struct gf_cuda *)be->impl;
    for (int i = 0; i < GF_CUDA_GRAPHS; i++) {
        if (c->graphs[i].exec && (!owner || c->graphs[i].owner == owner))
            s_forget(&c->graphs[i]);
        if (!owner || c->seen[i].owner == owner)
            c->seen[i] = (struct gf_cuda_graph){NULL, 0, NULL};
    }
}
