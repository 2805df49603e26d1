/* fuzz_control.c — libFuzzer target for the control-plane decoder (proto/control.proto): any
 * bytes either decode into an envelope whose every field can be read, or are refused; what
 * decodes packs again to exactly its packed size. Nothing crashes or leaks. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/control.h"

static size_t s_len(const char *s)
{
    return s ? strlen(s) : 0;
}

static size_t s_read(const Gotflow__Control *c)
{
    size_t n = 0;
    switch (c->msg_case) {
    case GOTFLOW__CONTROL__MSG_HELLO:
        n += s_len(c->hello->stage) + s_len(c->hello->build) + s_len(c->hello->kind);
        n += c->hello->replica + c->hello->pid + c->hello->protocol;
        break;
    case GOTFLOW__CONTROL__MSG_READY:
        n += c->ready->capacity + c->ready->batch;
        break;
    case GOTFLOW__CONTROL__MSG_HEARTBEAT:
        n += s_len(c->heartbeat->state);
        for (size_t i = 0; i < c->heartbeat->n_in_flight; i++)
            n += s_len(c->heartbeat->in_flight[i]);
        for (size_t i = 0; i < c->heartbeat->n_latency_us_hist; i++)
            n += (size_t)c->heartbeat->latency_us_hist[i];
        if (c->heartbeat->counters)
            n += (size_t)c->heartbeat->counters->overruns;
        break;
    case GOTFLOW__CONTROL__MSG_FAULT:
        n += s_len(c->fault->what) + s_len(c->fault->why) + (size_t)c->fault->code;
        break;
    case GOTFLOW__CONTROL__MSG_LOST:
        n += s_len(c->lost->replica);
        for (size_t i = 0; i < c->lost->n_ids; i++)
            n += s_len(c->lost->ids[i]);
        break;
    default:
        break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Gotflow__Control *c = gf_control_decode(data, size);
    if (!c)
        return 0;
    volatile size_t sink = s_read(c);
    (void)sink;
    size_t len = gotflow__control__get_packed_size(c);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    if (gotflow__control__pack(c, buf) != len)
        abort();
    /* Decoded again without asking for success: protobuf-c keeps the unknown fields of a
     * submessage met twice (merged), and their packed form need not decode. gotflow never
     * packs what it received. */
    Gotflow__Control *again = gf_control_decode(buf, len);
    if (again)
        gotflow__control__free_unpacked(again, NULL);
    free(buf);
    gotflow__control__free_unpacked(c, NULL);
    return 0;
}
