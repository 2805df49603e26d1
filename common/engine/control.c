/* control.c — protobuf-c envelopes over ZeroMQ. */
#include "engine/control.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "core/error.h"
#include "core/log.h"

int gf_control_send(void *sock, const void *rid, size_t rid_len, const Gotflow__Control *msg)
{
    size_t len = gotflow__control__get_packed_size(msg);
    uint8_t stackbuf[4096], *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!buf)
        return GF_ENOMEM;
    gotflow__control__pack(msg, buf);
    int rc = 0;
    if (rid && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        rc = GF_EZMQ;
    else if (zmq_send(sock, buf, len, ZMQ_DONTWAIT) < 0)
        rc = GF_EZMQ;
    if (buf != stackbuf)
        free(buf);
    return rc;
}

Gotflow__Control *gf_control_decode(const void *data, size_t len)
{
    if (!data && len)
        return NULL;
    return gotflow__control__unpack(NULL, len, data);
}

Gotflow__Control *gf_control_recv(void *sock, char *rid, size_t *rid_len, size_t rid_cap)
{
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return NULL;
        }
        if (rid) {
            size_t n = zmq_msg_size(&part);
            if (n >= rid_cap)
                n = rid_cap - 1;
            memcpy(rid, zmq_msg_data(&part), n);
            rid[n] = 0;
            if (rid_len)
                *rid_len = n;
            if (!zmq_msg_more(&part)) {
                zmq_msg_close(&part);
                continue;
            }
            zmq_msg_close(&part);
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, sock, 0) < 0) {
                zmq_msg_close(&part);
                return NULL;
            }
        }
        int more = zmq_msg_more(&part);
        while (more) { /* stray extra parts */
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            more = zmq_msg_recv(&extra, sock, 0) >= 0 && zmq_msg_more(&extra);
            zmq_msg_close(&extra);
        }
        Gotflow__Control *c = gf_control_decode(zmq_msg_data(&part), zmq_msg_size(&part));
        zmq_msg_close(&part);
        if (c)
            return c;
        gf_log_warn("control message%s%s did not decode; ignored", rid ? " from " : "",
                    rid ? rid : "");
    }
}
