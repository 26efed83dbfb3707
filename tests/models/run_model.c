/*
 * run_model.c — a host program for any generated model, used by the model
 * tests and the benchmark.  Built once per model with
 *   -include MODEL.h -DMODEL=name -DMODEL_UPPER=NAME [-DNOUT=n, up to 16 outputs]
 *
 *   run_model WEIGHTS.safetensors|- INPUT.f32 OUT_PREFIX [RUNS]
 *
 * loads the weights ('-' when they are embedded), runs the model on the raw
 * float32 input and writes each output to OUT_PREFIX<k>.f32.  With RUNS > 1
 * it also times RUNS inferences after a warm-up and prints the median and
 * the minimum in microseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cnnrt.h"

#define PASTE2(a, b) a##b
#define PASTE(a, b)  PASTE2(a, b)
#define FN(x)        PASTE(MODEL, x)
#define UP(x)        PASTE(MODEL_UPPER, x)
#ifndef NOUT
#define NOUT 1
#endif

#if NOUT == 1
static const long sizes[] = {UP(_OUTPUT_SIZE)};
#define OUT_ARGS outs[0]
#else
/* Up to 16 outputs: the sizes from OUTPUTk_SIZE, the arguments outs[0], ... */
#define SIZE_OF(k) UP(_OUTPUT##k##_SIZE)
#define S1         SIZE_OF(0)
#define S2         S1, SIZE_OF(1)
#define S3         S2, SIZE_OF(2)
#define S4         S3, SIZE_OF(3)
#define S5         S4, SIZE_OF(4)
#define S6         S5, SIZE_OF(5)
#define S7         S6, SIZE_OF(6)
#define S8         S7, SIZE_OF(7)
#define S9         S8, SIZE_OF(8)
#define S10        S9, SIZE_OF(9)
#define S11        S10, SIZE_OF(10)
#define S12        S11, SIZE_OF(11)
#define S13        S12, SIZE_OF(12)
#define S14        S13, SIZE_OF(13)
#define S15        S14, SIZE_OF(14)
#define S16        S15, SIZE_OF(15)
#define A1         outs[0]
#define A2         A1, outs[1]
#define A3         A2, outs[2]
#define A4         A3, outs[3]
#define A5         A4, outs[4]
#define A6         A5, outs[5]
#define A7         A6, outs[6]
#define A8         A7, outs[7]
#define A9         A8, outs[8]
#define A10        A9, outs[9]
#define A11        A10, outs[10]
#define A12        A11, outs[11]
#define A13        A12, outs[12]
#define A14        A13, outs[13]
#define A15        A14, outs[14]
#define A16        A15, outs[15]
/* A second paste macro: PASTE cannot expand inside its own expansion. */
#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)
static const long sizes[] = {CAT(S, NOUT)};
#define OUT_ARGS   CAT(A, NOUT)
#endif
static float *outs[NOUT];
#define INFER(in) FN(_infer)(in, OUT_ARGS)

static float input[UP(_INPUT_SIZE)] CNN_CACHE_ALIGNED;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int read_floats(const char *path, float *dst, long n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long got = (long)fread(dst, sizeof(float), (size_t)n, f);
    int extra = fgetc(f);
    fclose(f);
    return got == n && extra == EOF ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s WEIGHTS|- INPUT.f32 OUT_PREFIX [RUNS]\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "-") != 0) {
        int rc = FN(_load_weights)(argv[1]);
        if (rc != 0) {
            fprintf(stderr, "%s: %s\n", argv[0], FN(_strerror)(rc));
            return 1;
        }
    }
    if (read_floats(argv[2], input, UP(_INPUT_SIZE)) != 0) {
        fprintf(stderr, "%s: %s must hold %ld float32 values\n", argv[0], argv[2], (long)UP(_INPUT_SIZE));
        return 1;
    }
    for (int k = 0; k < NOUT; k++)
        if (!(outs[k] = malloc(sizeof(float) * (size_t)sizes[k]))) return 1;
    long runs = argc > 4 ? atol(argv[4]) : 1;
    INFER(input);
    if (runs > 1) {
        double *t = malloc(sizeof(double) * (size_t)runs);
        if (!t) return 1;
        for (long r = 0; r < runs; r++) {
            double t0 = now_us();
            INFER(input);
            t[r] = now_us() - t0;
        }
        qsort(t, (size_t)runs, sizeof(double), cmp_double);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("median_us %.2f\nmin_us %.2f\nmaxrss_kb %ld\n", t[runs / 2], t[0], ru.ru_maxrss);
        free(t);
    }
    for (int k = 0; k < NOUT; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%d.f32", argv[3], k);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(outs[k], sizeof(float), (size_t)sizes[k], f) != (size_t)sizes[k] || fclose(f) != 0) {
            fprintf(stderr, "%s: cannot write %s\n", argv[0], path);
            return 1;
        }
        free(outs[k]);
    }
    return 0;
}
