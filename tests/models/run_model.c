/*
 * run_model.c — a host program for any generated model, used by the model
 * tests and the benchmark.  Built once per model with
 *   -include MODEL.h -DMODEL=name -DMODEL_UPPER=NAME [-DNOUT=n]
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
#define PASTE(a, b) PASTE2(a, b)
#define FN(x) PASTE(MODEL, x)
#define UP(x) PASTE(MODEL_UPPER, x)
#ifndef NOUT
#define NOUT 1
#endif

#if NOUT == 1
static float out0[UP(_OUTPUT_SIZE)];
static float *const outs[] = {out0};
static const long sizes[] = {UP(_OUTPUT_SIZE)};
#define INFER(in) FN(_infer)(in, out0)
#else
static float out0[UP(_OUTPUT0_SIZE)], out1[UP(_OUTPUT1_SIZE)], out2[UP(_OUTPUT2_SIZE)];
static float *const outs[] = {out0, out1, out2};
static const long sizes[] = {UP(_OUTPUT0_SIZE), UP(_OUTPUT1_SIZE), UP(_OUTPUT2_SIZE)};
#define INFER(in) FN(_infer)(in, out0, out1, out2)
#endif

static float input[UP(_INPUT_SIZE)];

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
    }
    return 0;
}
