/* model_util.h — helpers shared by the model tests: make a checkpoint with mkmodel, read goldens.
 */
#ifndef GF_TESTS_MODEL_UTIL_H
#define GF_TESTS_MODEL_UTIL_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GOLDEN_DIR "tests/oracle/goldens/model"

/* Runs build/bin/mkmodel with the JSON array of flags (or a flag string) into a fresh temp dir;
 * returns the dir (caller frees) or NULL. */
static inline char *mu_mkmodel(json_t *flags, const char *extra)
{
    char *dir = strdup("/tmp/gf-model-XXXXXX");
    if (!dir || !mkdtemp(dir))
        return NULL;
    const char *bin = getenv("GOTFLOW_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/mkmodel --out %s %s", bin ? bin : "build/bin", dir,
             extra ? extra : "");
    for (size_t i = 0; flags && i < json_array_size(flags); i++)
        snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " '%s'",
                 json_string_value(json_array_get(flags, i)));
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        free(dir);
        return NULL;
    }
    return dir;
}

static inline void mu_rmtree(char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(dir);
}

static inline uint64_t mu_fnv64(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint64_t h = 0xcbf29ce484222325ull;
    int c;
    if (!f)
        return 0;
    while ((c = getc(f)) != EOF)
        h = (h ^ (uint8_t)c) * 0x100000001b3ull;
    fclose(f);
    return h;
}

/* Reads the golden array described by {"file", "shape"}; *count receives its element count. */
static inline float *mu_floats(json_t *desc, size_t *count)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR,
             json_string_value(json_object_get(desc, "file")));
    size_t n = 1;
    json_t *shape = json_object_get(desc, "shape");
    for (size_t i = 0; i < json_array_size(shape); i++)
        n *= json_integer_value(json_array_get(shape, i));
    float *a = malloc(n * 4);
    FILE *f = fopen(path, "rb");
    if (!a || !f || fread(a, 4, n, f) != n) {
        fprintf(stderr, "cannot read %s\n", path);
        free(a);
        a = NULL;
    }
    if (f)
        fclose(f);
    *count = n;
    return a;
}

static inline int32_t *mu_ints(json_t *arr, int *n)
{
    *n = (int)json_array_size(arr);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    for (int i = 0; i < *n; i++)
        v[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return v;
}

#endif
