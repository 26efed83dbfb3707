/*
 * peak.c — this core's FP32 FMA peak and single-thread memory bandwidth,
 * the yardsticks `make bench` divides by.
 *
 *   peak_gflops  FMAs on 24 independent accumulators (enough to cover the
 *                FMA latency on two ports), AVX-512 when the CPU has it,
 *                else AVX2, else scalar C; 2 flops per lane per FMA.
 *   copy_gbps    memcpy convention: bytes of the buffer / s while copying a
 *                512 MB buffer into another one (what a streaming kernel
 *                that reads its operand once is compared with).
 *   stream_copy_gbps  the same copy counted as STREAM does: read + written.
 *   read_gbps    bytes / s while summing a 512 MB buffer.
 *
 * Each figure is the best of several runs: the machine is shared, and the
 * best run is the one least disturbed.  `peak --fma` prints the first two
 * lines only.  Build: cc -O2 bench/peak.c -o peak
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define X86 1
#else
#define X86 0
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define ACCS 24

#if X86
/* Twelve statements of two FMAs each, written out so no compiler keeps
 * the accumulators in memory. */
#define FMA24(F, acc, a, b)                                                                                  \
    F(acc, 0, a, b)                                                                                          \
    F(acc, 1, a, b) F(acc, 2, a, b) F(acc, 3, a, b) F(acc, 4, a, b) F(acc, 5, a, b) F(acc, 6, a, b)          \
        F(acc, 7, a, b) F(acc, 8, a, b) F(acc, 9, a, b) F(acc, 10, a, b) F(acc, 11, a, b)

#define F512(acc, i, a, b)                                                                                   \
    acc##i = _mm512_fmadd_ps(acc##i, a, b);                                                                  \
    acc##i##x = _mm512_fmadd_ps(acc##i##x, a, b);
#define F256(acc, i, a, b)                                                                                   \
    acc##i = _mm256_fmadd_ps(acc##i, a, b);                                                                  \
    acc##i##x = _mm256_fmadd_ps(acc##i##x, a, b);
#define DECL(T, set1)                                                                                        \
    T c0 = set1(1.0f), c1 = set1(1.1f), c2 = set1(1.2f), c3 = set1(1.3f);                                    \
    T c4 = set1(1.4f), c5 = set1(1.5f), c6 = set1(1.6f), c7 = set1(1.7f);                                    \
    T c8 = set1(1.8f), c9 = set1(1.9f), c10 = set1(2.0f), c11 = set1(2.1f);                                  \
    T c0x = set1(2.2f), c1x = set1(2.3f), c2x = set1(2.4f), c3x = set1(2.5f);                                \
    T c4x = set1(2.6f), c5x = set1(2.7f), c6x = set1(2.8f), c7x = set1(2.9f);                                \
    T c8x = set1(3.0f), c9x = set1(3.1f), c10x = set1(3.2f), c11x = set1(3.3f);
#define SUM(add)                                                                                             \
    add(add(add(add(c0, c1), add(c2, c3)), add(add(c4, c5), add(c6, c7))),                                   \
        add(add(add(c8, c9), add(c10, c11)),                                                                 \
            add(add(add(c0x, c1x), add(c2x, c3x)),                                                           \
                add(add(add(c4x, c5x), add(c6x, c7x)), add(add(c8x, c9x), add(c10x, c11x))))))

__attribute__((target("avx512f"))) static float fma_avx512(long iters) {
    __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    DECL(__m512, _mm512_set1_ps)
    for (long it = 0; it < iters; it++) {
        FMA24(F512, c, a, b)
    }
    return _mm512_reduce_add_ps(SUM(_mm512_add_ps));
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters) {
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    DECL(__m256, _mm256_set1_ps)
    for (long it = 0; it < iters; it++) {
        FMA24(F256, c, a, b)
    }
    float out[8];
    _mm256_storeu_ps(out, SUM(_mm256_add_ps));
    return out[0];
}

__attribute__((target("avx512f"))) static double read_avx512(const float *x, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(x + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(x + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(x + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(x + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
#endif

static float fma_scalar(long iters) {
    float acc[ACCS];
    for (int i = 0; i < ACCS; i++) acc[i] = (float)i;
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < ACCS; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
    float s = 0;
    for (int i = 0; i < ACCS; i++) s += acc[i];
    return s;
}

static double read_scalar(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

int main(int argc, char **argv) {
    /* --fma: the FMA peak alone, in a fifth of a second (bench/run.sh
     * measures it again around every model) */
    int fma_only = argc > 1 && strcmp(argv[1], "--fma") == 0;
    int lanes = 1, isa = 0;
#if X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        isa = 2, lanes = 16;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        isa = 1, lanes = 8;
#endif
    long iters = 1000000;
    double best = 0;
    volatile float sink = 0;
    for (int run = 0; run < (fma_only ? 40 : 200); run++) {
        double t0 = now();
#if X86
        if (isa == 2)
            sink += fma_avx512(iters);
        else if (isa == 1)
            sink += fma_avx2(iters);
        else
#endif
            sink += fma_scalar(iters);
        double t = now() - t0;
        int accs = ACCS;
        double gflops = 2.0 * lanes * accs * iters / t * 1e-9;
        best = gflops > best ? gflops : best;
    }
    printf("isa %s\n", isa == 2 ? "avx512" : isa == 1 ? "avx2" : "scalar");
    printf("peak_gflops %.1f\n", best);
    if (fma_only) return 0;

    size_t bytes = (size_t)512 << 20;
    void *pa = NULL, *pb = NULL;
    if (posix_memalign(&pa, 64, bytes) || posix_memalign(&pb, 64, bytes)) {
        fprintf(stderr, "peak: cannot allocate %zu MB\n", (bytes * 2) >> 20);
        return 1;
    }
    float *a = pa, *b = pb;
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    double best_copy = 0, best_read = 0;
    for (int run = 0; run < 6; run++) {
        double t0 = now();
        if (run & 1)
            memcpy(a, b, bytes);
        else
            memcpy(b, a, bytes);
        double t = now() - t0;
        double gbps = bytes / t * 1e-9;
        best_copy = gbps > best_copy ? gbps : best_copy;
        t0 = now();
#if X86
        if (isa == 2)
            sink += (float)read_avx512(a, bytes / sizeof(float));
        else
#endif
            sink += (float)read_scalar(a, bytes / sizeof(float));
        t = now() - t0;
        gbps = bytes / t * 1e-9;
        best_read = gbps > best_read ? gbps : best_read;
    }
    printf("copy_gbps %.1f\n", best_copy);
    printf("stream_copy_gbps %.1f\n", 2 * best_copy);
    printf("read_gbps %.1f\n", best_read);
    free(a);
    free(b);
    return 0;
}
