/* sgemm_peer.h — the machine's sgemm, as OpenBLAS gives it, for `gotflow bench prefill` to
 * print next to its own FLOP/s. OpenBLAS is loaded at run time if installed
 * (libopenblas0-pthread); nothing links against it. */
#ifndef GF_TOOLS_SGEMM_PEER_H
#define GF_TOOLS_SGEMM_PEER_H

struct sgemm_peer;

/* C[m][n] = A[m][k] · B[n][k]ᵀ with `threads` threads; NULL if OpenBLAS is not there. */
struct sgemm_peer *sgemm_peer_new(int threads, int m, int n, int k);
/* Runs it once; returns the seconds it took. */
double sgemm_peer_run(struct sgemm_peer *p);
double sgemm_peer_flops(const struct sgemm_peer *p); /* per run */
void sgemm_peer_destroy(struct sgemm_peer **self_p);

#endif
