/* security.h — ZeroMQ CURVE on the tcp:// sockets between hosts (DESIGN §8).
 *
 * A graph whose hosts list `curve_public` keys is secured: every tcp socket a replica binds (its
 * inlet, its tap) is a CURVE server with the host's secret key, and accepts only clients whose
 * public key is one of the graph's hosts' keys (a ZAP handler thread checks each handshake and
 * logs the ones it refuses; a peer that does not speak CURVE at all never reaches ZAP, so each
 * CURVE server socket is also watched through its ZeroMQ socket monitor, and such peers are
 * logged, at most once per 10 s per endpoint with a count); every tcp socket it connects (outlets,
 * taps read by the CLI) is a CURVE client that knows the server host's public key. ipc:// sockets
 * stay local, protected by the run directory's 0700 permissions.
 *
 * Key files, made by `gotflow keygen`, hold two lines: "public: Z85" and "secret: Z85".
 */
#ifndef GF_ENGINE_SECURITY_H
#define GF_ENGINE_SECURITY_H

#include <pthread.h>

#include "engine/graph.h"

#define GF_KEY_Z85 41             /* 40 characters and a NUL */
#define GF_SECURITY_MAX_WATCHED 8 /* CURVE server sockets watched for plaintext peers */

/* The monitors of the CURVE server sockets, read by the ZAP thread (security.c). */
struct gf_security_watch;

struct gf_security {
    int enabled;
    char public_key[GF_KEY_Z85], secret_key[GF_KEY_Z85];
    char allowed[GF_GRAPH_MAX_HOSTS][GF_KEY_Z85];
    int n_allowed;
    void *zap;
    pthread_t zap_thread;
    volatile int zap_stop;
    int zap_running;
    struct gf_security_watch *watch; /* owned; NULL unless serving */
};

/* True when the graph's hosts carry CURVE keys. */
int gf_security_wanted(const gf_graph_t *g);

/* Reads a key file. 0, or GF_EIO / GF_EPARSE with the reason logged. */
int gf_key_file_read(const char *path, char public_key[GF_KEY_Z85], char secret_key[GF_KEY_Z85]);

/* Prepares `sec` for a process of graph `g`: nothing when the graph is not secured; otherwise
 * loads `key_file` (which must belong to one of the graph's hosts) and, with `serve`, starts the
 * ZAP handler in `zctx` (before any server socket binds). 0, or a negative code, logged. */
int gf_security_init(struct gf_security *sec, void *zctx, const gf_graph_t *g, const char *key_file,
                     int serve);
void gf_security_release(struct gf_security *sec);

/* Before binding `endpoint` on `sock`: a CURVE server when secured and tcp; in a serving process
 * (gf_security_init with `serve`) its handshake failures are then watched and logged. Call
 * gf_security_release() only after closing `sock`. */
/* Returns 0, or GF_EZMQ when an option cannot be set (logged with its name): the socket must
 * not be used then, it would not be secured. */
int gf_security_server(const struct gf_security *sec, void *sock, const char *endpoint);
/* Before connecting `sock` to `endpoint` served by a host with `server_public`. 0 or GF_EZMQ
 * (logged). */
int gf_security_client(const struct gf_security *sec, void *sock, const char *endpoint,
                       const char *server_public);

#endif
