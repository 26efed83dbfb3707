/*
 * conv_bench.c — times the runtime's kernels on the layers that dominate
 * the benchmark models, to drive tuning.
 *
 * For each layer: the best time over repeated runs (the machine is shared;
 * the best run is the least disturbed), GFLOP/s counting 2 flops per
 * multiply-add, and that as a percentage of the peak given on the command
 * line (from bench/peak: `conv_bench PEAK_GFLOPS COPY_GBPS`); BENCH_ONLY=SUBSTRING
 * picks layers.  The dense
 * layer is memory-bound and is also reported in GB/s of weights read and as
 * a percentage of the copy bandwidth.  1 and 2 threads.
 *
 * Build: cc -O2 -Iruntime bench/conv_bench.c build/libcnnrt.a -lm -lpthread
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnnrt.h"

/* One thread is timed in CPU time of the calling thread, which a busy
 * shared machine does not inflate by preempting us; two threads need wall
 * time.  BENCH_WALL=1 uses wall time for both. */
static int use_cpu_time;

static double now(void) {
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rand_floats(size_t n) {
    float *x = malloc(n * sizeof(float));
    unsigned s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) & 0xFFFF) / 65536.0f - 0.5f;
    }
    return x;
}

typedef struct {
    const char *name;
    int in_h, in_w, in_c, out_c, k, stride, pad, depthwise;
} layer;

static const layer LAYERS[] = {
    {"vgg16_conv3_56x56x256_3x3", 56, 56, 256, 256, 3, 1, 1, 0},
    {"vgg16_conv3_slice_6x56x256_3x3", 6, 56, 256, 256, 3, 1, 1, 0},
    {"vgg16_conv1_224x224x64_3x3", 224, 224, 64, 64, 3, 1, 1, 0},
    {"vgg16_conv5_14x14x512_3x3", 14, 14, 512, 512, 3, 1, 1, 0},
    {"resnet_1x1_14x14x1024_256", 14, 14, 1024, 256, 1, 1, 0, 0},
    {"resnet_1x1_56x56x64_256", 56, 56, 64, 256, 1, 1, 0, 0},
    {"resnet_1x1_56x56x256_64", 56, 56, 256, 64, 1, 1, 0, 0},
    {"small_1x1_14x14x64_256", 14, 14, 64, 256, 1, 1, 0, 0},
    {"resnet_3x3_7x7x512", 7, 7, 512, 512, 3, 1, 1, 0},
    {"resnet_stem_224x224x3_7x7s2", 224, 224, 3, 64, 7, 2, 3, 0},
    {"mobilenet_conv1_224x224x3_3x3s2", 224, 224, 3, 32, 3, 2, 1, 0},
    {"mobilenet_pw_14x14x512_512", 14, 14, 512, 512, 1, 1, 0, 0},
    {"mobilenet_pw_112x112x32_64", 112, 112, 32, 64, 1, 1, 0, 0},
    {"mobilenet_dw_112x112x64_3x3", 112, 112, 64, 64, 3, 1, 1, 1},
    {"mobilenet_dw_14x14x512_3x3", 14, 14, 512, 512, 3, 1, 1, 1},
    {"dense_25088_4096", 1, 1, 25088, 4096, 1, 1, 0, 0},
    {"dense_4096_4096", 1, 1, 4096, 4096, 1, 1, 0, 0},
};

static double bench_layer(const layer *l, double *macs_out, double *bytes_out) {
    cnn_conv c;
    memset(&c, 0, sizeof c);
    c.in_h = l->in_h, c.in_w = l->in_w, c.in_c = l->in_c, c.out_c = l->out_c;
    c.k_h = c.k_w = l->k;
    c.stride_h = c.stride_w = l->stride, c.dil_h = c.dil_w = 1;
    c.pad_top = c.pad_left = l->pad;
    c.out_h = (l->in_h + 2 * l->pad - l->k) / l->stride + 1;
    c.out_w = (l->in_w + 2 * l->pad - l->k) / l->stride + 1;
    c.out_stride = l->out_c;
    c.act.kind = CNN_ACT_RELU;
    size_t in_n = (size_t)c.in_h * c.in_w * c.in_c, out_n = (size_t)c.out_h * c.out_w * c.out_c;
    /* offset the output so in and out are not 4 KB aliases of each other,
     * as they would rarely be in a model arena */
    float *in = rand_floats(in_n), *out_buf = malloc((out_n + 1040) * sizeof(float)), *packed;
    float *out = out_buf + 1040;
    float *scratch = l->depthwise ? NULL : malloc((cnn_conv_scratch_floats(&c) + 1) * sizeof(float));
    double macs, best = 1e30;
    cnn_dwconv d;
    d.geom = c;
    d.depth_multiplier = 1;
    if (l->depthwise) {
        float *kernel = rand_floats((size_t)l->k * l->k * c.out_c);
        packed = malloc(cnn_dwconv_packed_floats(&d) * sizeof(float));
        cnn_dwconv_pack(packed, kernel, NULL, &d);
        free(kernel);
        macs = (double)out_n * l->k * l->k;
        *bytes_out = (double)cnn_dwconv_packed_floats(&d) * 4;
    } else {
        size_t kn = (size_t)l->k * l->k * c.in_c * c.out_c;
        float *kernel = rand_floats(kn);
        packed = malloc(cnn_conv_packed_floats(&c) * sizeof(float));
        cnn_conv_pack(packed, kernel, NULL, &c);
        free(kernel);
        macs = (double)out_n * l->k * l->k * c.in_c;
        *bytes_out = (double)cnn_conv_packed_floats(&c) * 4;
    }
    /* enough runs for ~0.3 s per layer, at least 5 */
    int runs = (int)(0.3 / (macs * 2 / 100e9 + 1e-6));
    runs = runs < 5 ? 5 : runs > 2000 ? 2000 : runs;
    for (int i = 0; i < runs; i++) {
        double t0 = now();
        if (l->depthwise)
            cnn_dwconv_forward(out, in, packed, &d);
        else
            cnn_conv_forward(out, in, packed, NULL, scratch, &c);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    free(in), free(out_buf), free(packed), free(scratch);
    *macs_out = macs;
    return best;
}

int main(int argc, char **argv) {
    double peak = argc > 1 ? atof(argv[1]) : 0, copy = argc > 2 ? atof(argv[2]) : 0;
    const char *only = getenv("BENCH_ONLY");
    printf("isa %s\n", cnnrt_isa() == CNN_ISA_AVX512 ? "avx512"
                       : cnnrt_isa() == CNN_ISA_AVX2 ? "avx2"
                                                     : "generic");
    for (size_t i = 0; i < sizeof LAYERS / sizeof LAYERS[0]; i++) {
        if (only && !strstr(LAYERS[i].name, only)) continue;
        for (int threads = 1; threads <= 2; threads++) {
            double macs, bytes;
            cnnrt_set_threads(threads);
            use_cpu_time = threads == 1 && !getenv("BENCH_WALL");
            double t = bench_layer(&LAYERS[i], &macs, &bytes);
            double gflops = 2 * macs / t * 1e-9;
            printf("%-30s threads %d  %9.1f us  %7.1f GFLOP/s", LAYERS[i].name, threads, t * 1e6, gflops);
            if (peak > 0) printf("  %5.1f%% of peak", 100 * gflops / peak);
            if (LAYERS[i].in_h == 1) {
                printf("  %6.1f GB/s", bytes / t * 1e-9);
                if (copy > 0) printf("  %5.1f%% of copy", 100 * bytes / t * 1e-9 / copy);
            }
            printf("\n");
            fflush(stdout);
        }
    }
    return 0;
}
