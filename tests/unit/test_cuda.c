/* test_cuda.c — the CUDA backend as CI sees it, with or without a GPU: the backend's library
 * loads with every CUDA runtime and cuBLAS symbol resolved (a link test), and asking for cuda:N
 * on a machine without that device fails with one line that says why. On a machine with a GPU
 * one small product is checked against the CPU; tests/gpu/run.sh checks every op. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "kernels/cuda/abi.h"
#include "kernels/ops.h"

/* Runs gf_backend_cuda_new(device) with stderr captured into log[len]. */
static struct gf_backend *s_new_logged(int device, char *log, size_t len)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    struct gf_backend *be = gf_backend_cuda_new(device, GF_CUDA_F32);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(log, 1, len - 1, tmp);
    log[n] = 0;
    fclose(tmp);
    return be;
}

static int s_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_library_links(void **state)
{
    char buf[256];
    if (!gf_backend_cuda_built()) {
        assert_int_equal(gf_cuda_probe_versions(buf, sizeof buf), GF_EUNSUPPORTED);
        print_message("# skipped: this build has no CUDA backend (no nvcc at build time)\n");
        return;
    }
    int rc = gf_cuda_probe_versions(buf, sizeof buf);
    if (rc != 0)
        fail_msg("%s", buf);
    assert_non_null(strstr(buf, "cuBLAS"));
    print_message("# %s\n", buf);
}

static void test_no_device_is_one_clear_line(void **state)
{
    char log[4096];
    struct gf_backend *be = s_new_logged(0, log, sizeof log);
    if (be) { /* a GPU is here: nothing to refuse */
        gf_backend_destroy(&be);
        assert_null(be);
        print_message("# skipped: cuda:0 exists here\n");
        return;
    }
    print_message("# %s", log);
    assert_int_equal(s_lines(log), 1);
    if (gf_backend_cuda_built())
        assert_non_null(strstr(log, "cuda:0: no CUDA device (cudaGetDeviceCount: "));
    else
        assert_non_null(strstr(log, "cuda:0: this build has only the CPU backend"));
}

static void test_missing_device_index(void **state)
{
    char log[4096];
    struct gf_backend *be = s_new_logged(63, log, sizeof log);
    assert_null(be);
    assert_int_equal(s_lines(log), 1);
    assert_true(strstr(log, "cuda:63: no such device") || strstr(log, "cuda:63: no CUDA device") ||
                strstr(log, "cuda:63: this build has only the CPU backend"));
}

static void test_mode_names(void **state)
{
    enum gf_cuda_mode m;
    assert_int_equal(gf_cuda_mode_parse("f32", &m), 0);
    assert_int_equal(m, GF_CUDA_F32);
    assert_int_equal(gf_cuda_mode_parse(NULL, &m), 0);
    assert_int_equal(m, GF_CUDA_BF16);
    assert_int_equal(gf_cuda_mode_parse("fp8", &m), GF_EINVAL);
}

/* Timing events exist only for a CUDA backend: a CPU backend gets GF_EINVAL (GF_EUNSUPPORTED
 * in a build without CUDA), no event, and every other call refuses it the same way. */
static void test_events_of_a_cpu_backend(void **state)
{
    struct gf_backend *cpu = gf_backend_cpu_new(1);
    struct gf_cuda_event *ev = (struct gf_cuda_event *)cpu; /* must be set to NULL */
    int want = gf_backend_cuda_built() ? GF_EINVAL : GF_EUNSUPPORTED;
    float ms = -1;
    assert_int_equal(gf_cuda_event_new(cpu, &ev), want);
    assert_null(ev);
    assert_int_equal(gf_cuda_event_record(cpu, ev), want);
    assert_int_equal(gf_cuda_event_elapsed_ms(cpu, ev, ev, &ms), want);
    assert_true(ms == 0);
    gf_cuda_event_destroy(cpu, &ev);
    assert_null(ev);
    gf_backend_destroy(&cpu);
}

/* With a GPU: y = x·Wᵀ + b for 3 and 40 tokens (GEMV and cuBLAS paths) against the reference. */
static void test_linear_on_gpu(void **state)
{
    char log[4096];
    struct gf_backend *be = s_new_logged(0, log, sizeof log);
    if (!be) {
        print_message("# skipped: no GPU here\n");
        return;
    }
    struct gf_backend *ref = gf_backend_ref_new();
    enum { R = 70, C = 96, N = 40 };
    static float w[R * C], b[R], x[N * C], y[N * R], y_ref[N * R];
    for (int i = 0; i < R * C; i++)
        w[i] = (float)((i * 37 % 101) - 50) / 64;
    for (int i = 0; i < N * C; i++)
        x[i] = (float)((i * 53 % 97) - 48) / 32;
    for (int i = 0; i < R; i++)
        b[i] = (float)i / R;
    struct gf_mat wm = {GF_WTYPE_F32, R, C, w}, bm = {GF_WTYPE_F32, 1, R, b};
    int ns[] = {3, N};
    for (int k = 0; k < 2; k++) {
        int n = ns[k];
        float *dx = be->ops->alloc(be, sizeof x), *dy = be->ops->alloc(be, sizeof y);
        assert_non_null(dx);
        assert_non_null(dy);
        be->ops->to_device(be, dx, x, sizeof x);
        be->ops->linear(be, dy, dx, n, &wm, &bm);
        be->ops->to_host(be, y, dy, (size_t)n * R * 4);
        assert_int_equal(be->ops->check(be), 0);
        ref->ops->linear(ref, y_ref, x, n, &wm, &bm);
        for (int i = 0; i < n * R; i++)
            assert_true(fabsf(y[i] - y_ref[i]) <= 1e-5f * (1 + fabsf(y_ref[i])));
        be->ops->free(be, dx);
        be->ops->free(be, dy);
    }
    gf_backend_destroy(&ref);
    gf_backend_destroy(&be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_links),
        cmocka_unit_test(test_no_device_is_one_clear_line),
        cmocka_unit_test(test_missing_device_index),
        cmocka_unit_test(test_mode_names),
        cmocka_unit_test(test_events_of_a_cpu_backend),
        cmocka_unit_test(test_linear_on_gpu),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
