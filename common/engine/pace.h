/* pace.h — sizes the work of one step so that a step stays near a time budget.
 *
 * A stage's step() must return well within the heartbeat timeout, whatever the model's size and
 * the machine's speed: a prefill of 128 tokens takes milliseconds on a tiny model and tens of
 * seconds on a 7B one on two cores. The pace starts small, measures the cost per item of each
 * step and sizes the next one to fit the budget, between 1 and a maximum. Results do not depend
 * on where the chunks fall (batch invariance), only the step lengths do.
 */
#ifndef GF_ENGINE_PACE_H
#define GF_ENGINE_PACE_H

#include <stdint.h>

#include "engine/graph.h"

struct gf_pace {
    int now, max;      /* items in the next step; the most a step may hold */
    int64_t budget_us; /* target length of a step */
};

static inline void gf_pace_init(struct gf_pace *p, int max, int64_t budget_us)
{
    p->max = max > 0 ? max : 1;
    p->now = p->max < 8 ? p->max : 8;
    p->budget_us = budget_us;
}

/* The budget of a step: a quarter of the graph's heartbeat timeout (2.5 s by default), long
 * enough that a prefill chunk on a large model amortizes reading the weights, short enough that
 * heartbeats, which go out between steps, keep coming. */
static inline int64_t gf_pace_budget_us(const struct gf_graph *g)
{
    int64_t ms =
        g && g->supervisor.heartbeat_timeout_ms > 0 ? g->supervisor.heartbeat_timeout_ms : 10000;
    return ms * 250;
}

/* `n` items took `elapsed_us`: the next step gets as many as fit the budget. */
static inline void gf_pace_update(struct gf_pace *p, int n, int64_t elapsed_us)
{
    if (n <= 0)
        return;
    int64_t per = elapsed_us / n > 0 ? elapsed_us / n : 1;
    int64_t fit = p->budget_us / per;
    p->now = fit < 1 ? 1 : fit > p->max ? p->max : (int)fit;
}

#endif
