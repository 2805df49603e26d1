/* control.h — sending and receiving control-plane envelopes (proto/control.proto).
 *
 * The supervisor binds a ROUTER; each replica connects a DEALER whose routing id is
 * "<stage>.<replica>". On the ROUTER side pass the routing id; on the DEALER side pass NULL.
 */
#ifndef GF_ENGINE_CONTROL_H
#define GF_ENGINE_CONTROL_H

#include <stddef.h>

#include "proto/control.pb-c.h"

#define GF_CONTROL_PROTOCOL 1

/* Packs and sends without blocking. 0, or GF_EZMQ / GF_ENOMEM. */
int gf_control_send(void *sock, const void *rid, size_t rid_len, const Gotflow__Control *msg);

/* Decodes one envelope from `len` bytes read off the wire (no sockets). NULL when the bytes do
 * not decode. Caller owns: gotflow__control__free_unpacked(). */
Gotflow__Control *gf_control_decode(const void *data, size_t len);

/* Receives one envelope without blocking; NULL when none is waiting (or one did not decode, which
 * is logged and skipped). The caller frees it with gotflow__control__free_unpacked(). On a ROUTER
 * the sender's routing id is copied to `rid` (NUL-terminated, cut to rid_cap). */
Gotflow__Control *gf_control_recv(void *sock, char *rid, size_t *rid_len, size_t rid_cap);

#endif
