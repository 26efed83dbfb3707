/*
 * compare.c — compare two raw float32 files as the model tests require:
 * the largest absolute difference, relative to the largest magnitude of
 * the expected output, must stay under a tolerance (default 1e-4).
 *
 *   compare ACTUAL.f32 EXPECTED.f32 [TOLERANCE]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *read_all(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long cap = 1024, len = 0;
    float *v = malloc(sizeof(float) * (size_t)cap);
    size_t got;
    while (v && (got = fread(v + len, sizeof(float), (size_t)(cap - len), f)) > 0) {
        len += (long)got;
        if (len == cap) {
            cap *= 2;
            float *bigger = realloc(v, sizeof(float) * (size_t)cap);
            if (!bigger) free(v);
            v = bigger;
        }
    }
    fclose(f);
    *n = len;
    return v;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: compare ACTUAL.f32 EXPECTED.f32 [TOLERANCE]\n");
        return 2;
    }
    double tol = argc > 3 ? atof(argv[3]) : 1e-4;
    long na, nb;
    float *a = read_all(argv[1], &na), *b = read_all(argv[2], &nb);
    if (!a || !b || na != nb || na == 0) {
        fprintf(stderr, "compare: %s and %s differ in size or cannot be read\n", argv[1], argv[2]);
        return 1;
    }
    double scale = 0, worst = 0;
    long at = 0;
    for (long i = 0; i < nb; i++)
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    for (long i = 0; i < na; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) { /* NaN counts as worst */
            worst = isnan(d) ? INFINITY : d;
            at = i;
        }
    }
    double rel = scale > 0 ? worst / scale : worst;
    printf("%s: %ld values, max abs error %.3g (%.3g of the output scale %.3g) at %ld: %s\n", argv[1], na,
           worst, rel, scale, at, rel <= tol ? "ok" : "MISMATCH");
    free(a);
    free(b);
    return rel <= tol ? 0 : 1;
}
