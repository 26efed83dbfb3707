/*
 * test_kernels.c — every runtime kernel against naive loops written here.
 *
 * Each case runs on every instruction set the CPU has (cnnrt_set_isa), on
 * one thread and on two, with odd sizes that are not multiples of the
 * vector width or the 32-column panel.  Errors are measured as the largest
 * absolute difference divided by the output's scale (max |ref|, at least
 * 1) and must stay below 1e-4.  Outputs are written into larger buffers
 * filled with a sentinel so writes outside the slice are caught.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"

#define TOL      1e-4
#define SENTINEL 12345.0f

static unsigned int rng_state = 12345u;

static float frand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static float *rand_tensor(size_t n) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = frand();
    return x;
}

static float *filled(size_t n, float v) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = v;
    return x;
}

static int isas[3], n_isas;

static void find_isas(void) {
    n_isas = 0;
    for (int isa = CNN_ISA_GENERIC; isa <= CNN_ISA_AVX512; isa++)
        if (cnnrt_set_isa(isa) == isa) isas[n_isas++] = isa;
}

static const char *isa_name(int isa) {
    return isa == CNN_ISA_AVX512 ? "avx512" : isa == CNN_ISA_AVX2 ? "avx2" : "generic";
}

/* max |got - want| / max(1, max |want|) over n values `stride` apart in
 * rows of `width` (stride == width for dense tensors). */
static double rel_error(const float *got, const float *want, size_t rows, int width, int stride) {
    double err = 0.0, scale = 1.0;
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < width; i++) {
            double w = want[r * width + i], g = got[r * stride + i];
            scale = fabs(w) > scale ? fabs(w) : scale;
            err = fabs(g - w) > err || g != g ? (g != g ? 1e30 : fabs(g - w)) : err;
        }
    return err / scale;
}

static float ref_act(float x, const cnn_act *a) {
    switch (a->kind) {
    case CNN_ACT_RELU:
        x = x < 0 ? x * a->negative_slope : x;
        return a->has_max && x > a->max_value ? a->max_value : x;
    case CNN_ACT_TANH: return tanhf(x);
    case CNN_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    default: return x;
    }
}

static const cnn_act ACTS[] = {
    {CNN_ACT_LINEAR, 0, 0, 0},     {CNN_ACT_RELU, 0, 0, 0},    {CNN_ACT_RELU, 0, 1, 6.0f}, /* relu6 */
    {CNN_ACT_RELU, 0.2f, 1, 0.5f}, /* leaky with a max */
    {CNN_ACT_RELU, 0.1f, 0, 0},    /* leaky */
    {CNN_ACT_TANH, 0, 0, 0},       {CNN_ACT_SIGMOID, 0, 0, 0},
};
#define N_ACTS (int)(sizeof ACTS / sizeof ACTS[0])

/* ---- convolution --------------------------------------------------------- */

/* out (out_h, out_w, out_c) dense, kernel HWIO. */
static void ref_conv(float *out, const float *in, const float *kernel, const float *bias,
                     const float *residual, const cnn_conv *c) {
    for (int y = 0; y < c->out_h; y++)
        for (int x = 0; x < c->out_w; x++)
            for (int o = 0; o < c->out_c; o++) {
                double sum = bias ? bias[o] : 0.0;
                for (int ky = 0; ky < c->k_h; ky++)
                    for (int kx = 0; kx < c->k_w; kx++) {
                        int iy = y * c->stride_h + ky * c->dil_h - c->pad_top;
                        int ix = x * c->stride_w + kx * c->dil_w - c->pad_left;
                        if (iy < 0 || iy >= c->in_h || ix < 0 || ix >= c->in_w) continue;
                        for (int ci = 0; ci < c->in_c; ci++)
                            sum += (double)in[(iy * c->in_w + ix) * c->in_c + ci] *
                                   kernel[((ky * c->k_w + kx) * c->in_c + ci) * c->out_c + o];
                    }
                size_t i = ((size_t)y * c->out_w + x) * c->out_c + o;
                if (residual) sum += residual[i];
                out[i] = ref_act((float)sum, &c->act);
            }
}

enum { RES_NONE, RES_SEPARATE, RES_ALIAS };

typedef struct {
    int in_h, in_w, in_c, out_c, k_h, k_w, s_h, s_w, d_h, d_w;
    int pad_top, pad_bottom, pad_left, pad_right;
    int extra_channels; /* out_stride = out_c + extra, writing at offset extra/2 */
    int residual;
    int act; /* index into ACTS */
    int no_bias;
} conv_case;

static cnn_conv make_conv(const conv_case *k) {
    cnn_conv c;
    memset(&c, 0, sizeof c);
    c.in_h = k->in_h, c.in_w = k->in_w, c.in_c = k->in_c, c.out_c = k->out_c;
    c.k_h = k->k_h, c.k_w = k->k_w;
    c.stride_h = k->s_h, c.stride_w = k->s_w, c.dil_h = k->d_h, c.dil_w = k->d_w;
    c.pad_top = k->pad_top, c.pad_left = k->pad_left;
    c.out_h = (k->in_h + k->pad_top + k->pad_bottom - ((k->k_h - 1) * k->d_h + 1)) / k->s_h + 1;
    c.out_w = (k->in_w + k->pad_left + k->pad_right - ((k->k_w - 1) * k->d_w + 1)) / k->s_w + 1;
    c.out_stride = k->out_c + k->extra_channels;
    c.act = ACTS[k->act];
    return c;
}

/* Runs one case on the current ISA and thread count; returns the error. */
static double run_conv_case(const conv_case *k, int *outside_touched) {
    cnn_conv c = make_conv(k);
    size_t in_n = (size_t)c.in_h * c.in_w * c.in_c;
    size_t k_n = (size_t)c.k_h * c.k_w * c.in_c * c.out_c;
    size_t pix = (size_t)c.out_h * c.out_w, out_n = pix * c.out_c;
    float *in = rand_tensor(in_n), *kernel = rand_tensor(k_n), *bias = rand_tensor(c.out_c);
    float *residual = rand_tensor(out_n), *want = malloc(out_n * sizeof(float));
    float *packed = malloc(cnn_conv_packed_floats(&c) * sizeof(float));
    size_t scratch_n = cnn_conv_scratch_floats(&c);
    float *scratch = scratch_n ? filled(scratch_n, SENTINEL) : NULL;
    float *out_buf, *out;
    int off = k->extra_channels / 2;
    cnn_conv_pack(packed, kernel, k->no_bias ? NULL : bias, &c);
    ref_conv(want, in, kernel, k->no_bias ? NULL : bias, k->residual ? residual : NULL, &c);
    if (k->residual == RES_ALIAS) {
        out_buf = malloc(out_n * sizeof(float));
        memcpy(out_buf, residual, out_n * sizeof(float));
        out = out_buf;
        cnn_conv_forward(out, in, packed, out, scratch, &c);
    } else {
        out_buf = filled(pix * c.out_stride, SENTINEL);
        out = out_buf + off;
        cnn_conv_forward(out, in, packed, k->residual ? residual : NULL, scratch, &c);
    }
    *outside_touched = 0;
    if (k->residual != RES_ALIAS)
        for (size_t p = 0; p < pix; p++)
            for (int i = 0; i < c.out_stride; i++)
                if ((i < off || i >= off + c.out_c) && out_buf[p * c.out_stride + i] != SENTINEL)
                    *outside_touched = 1;
    double err = rel_error(out, want, pix, c.out_c, c.out_stride);
    free(in), free(kernel), free(bias), free(residual), free(want), free(packed), free(out_buf),
        free(scratch);
    return err;
}

/* Runs every case on every ISA with 1..max_threads threads: each must
 * match the reference and write only its slice. */
static void check_conv_cases(const char *what, const conv_case *cases, int n_cases, int max_threads) {
    for (int i = 0; i < n_isas; i++) {
        cnnrt_set_isa(isas[i]);
        for (int threads = 1; threads <= max_threads; threads++) {
            cnnrt_set_threads(threads);
            for (int k = 0; k < n_cases; k++) {
                int touched;
                double err = run_conv_case(&cases[k], &touched);
                ck_assert_msg(err < TOL, "%s case %d on %s, %d threads: error %g", what, k, isa_name(isas[i]),
                              threads, err);
                ck_assert_msg(!touched, "%s case %d on %s wrote outside its slice", what, k,
                              isa_name(isas[i]));
            }
        }
    }
    cnnrt_set_threads(1);
}

static const conv_case CONV_CASES[] = {
    /* in_h in_w in_c out_c kh kw sh sw dh dw pt pb pl pr extra res act nobias */
    {7, 9, 5, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 1, 0},        /* same 3x3, odd */
    {8, 8, 3, 16, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 0, 0},        /* in_c 3 im2col */
    {11, 13, 3, 70, 5, 3, 2, 2, 1, 1, 2, 1, 0, 2, 0, RES_NONE, 2, 0},      /* non-square, asym */
    {9, 10, 33, 65, 3, 2, 2, 1, 1, 1, 1, 0, 0, 1, 6, RES_NONE, 3, 0},      /* concat slice */
    {12, 11, 17, 33, 3, 3, 1, 1, 2, 3, 2, 2, 3, 3, 0, RES_NONE, 4, 0},     /* dilation */
    {6, 7, 40, 31, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_SEPARATE, 1, 0},   /* 1x1 + residual */
    {6, 7, 40, 31, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_ALIAS, 1, 0},      /* residual == out */
    {5, 5, 24, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_ALIAS, 2, 1},      /* 3x3 + alias */
    {9, 9, 16, 20, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 4, RES_SEPARATE, 5, 0},   /* 1x1 stride 2, tanh */
    {1, 1, 301, 67, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 6, 0},      /* dense, sigmoid */
    {1, 1, 400, 120, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 5, 0},     /* LeNet dense */
    {1, 1, 5, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 0, 1},         /* tiny dense */
    {32, 32, 1, 6, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 5, 0},       /* LeNet conv1 */
    {14, 14, 6, 16, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 5, 0},      /* LeNet conv2 */
    {23, 23, 3, 13, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 0, RES_NONE, 1, 0},      /* ResNet stem-like */
    {17, 19, 15, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32, RES_NONE, 1, 0},    /* bigger, threads (direct) */
    {7, 7, 130, 200, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_SEPARATE, 1, 0}, /* 7x7: panel split */
    {3, 4, 8, 5, 4, 5, 1, 1, 1, 1, 1, 2, 2, 2, 0, RES_NONE, 1, 0},         /* kernel > input */
    {4, 30, 20, 9, 1, 3, 1, 3, 1, 1, 0, 0, 1, 1, 0, RES_NONE, 2, 0},       /* stride 3 in w */
    /* one input channel, few outputs: the pixel-vectorized path */
    {9, 37, 1, 12, 3, 3, 2, 1, 1, 2, 1, 1, 2, 1, 5, RES_NONE, 2, 0},     /* slice, dilation */
    {40, 50, 1, 1, 7, 1, 1, 1, 1, 1, 3, 3, 0, 0, 0, RES_NONE, 5, 0},     /* 7x1, one output */
    {10, 20, 1, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_SEPARATE, 6, 0}, /* residual: GEMM */
    {200, 120, 1, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 1, 1},   /* rows by rows */
    /* dense output (out_stride == out_c): the in-register transpose store */
    {13, 45, 1, 11, 3, 5, 1, 1, 1, 1, 1, 1, 2, 2, 0, RES_NONE, 3, 0}, /* 11 ch, 45 wide */
    {6, 19, 1, 5, 2, 3, 2, 1, 1, 1, 0, 1, 1, 0, 0, RES_NONE, 6, 0},   /* 5 ch, sigmoid */
    {5, 8, 1, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 2, 0},   /* 12 ch, 8 wide */
    {4, 33, 1, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 4, 0},   /* 1x1, 3 ch, 33 */
};
#define N_CONV_CASES (int)(sizeof CONV_CASES / sizeof CONV_CASES[0])

START_TEST(test_conv) {
    check_conv_cases("conv", CONV_CASES, N_CONV_CASES, 2);
}
END_TEST

/* Big layers so the parallel path really splits (rows, then panels). */
START_TEST(test_conv_parallel) {
    static const conv_case cases[] = {
        {30, 30, 15, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_SEPARATE, 1, 0}, /* direct 3x3 */
        {7, 7, 256, 320, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_ALIAS, 1, 0},
        {1, 1, 2049, 1000, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 0, 0},
        /* under the MAC threshold, but streaming MBs of weights: split */
        {1, 1, 1024, 1000, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 1, 0},
        {1, 1, 700, 777, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_SEPARATE, 2, 0},
        /* weights over 2 MB on few rows: every tile prefetches a share of
         * the panel a group ahead, across chunk boundaries when split */
        {7, 7, 1024, 600, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_SEPARATE, 1, 0},
        {5, 5, 256, 300, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 2, 0},
    };
    check_conv_cases("parallel", cases, (int)(sizeof cases / sizeof cases[0]), 3);
}
END_TEST

START_TEST(test_conv_pack_layout) {
    /* The layout is a contract with cnncc: check it element by element. */
    cnn_conv c;
    memset(&c, 0, sizeof c);
    c.in_h = c.in_w = 1, c.in_c = 3, c.out_c = 40, c.k_h = c.k_w = 1;
    c.out_h = c.out_w = 1, c.stride_h = c.stride_w = c.dil_h = c.dil_w = 1, c.out_stride = 40;
    ck_assert_uint_eq(cnn_conv_packed_floats(&c), 2 * 32 * 3 + 64);
    float kernel[120], bias[40], packed[256];
    for (int i = 0; i < 120; i++) kernel[i] = (float)i;
    for (int i = 0; i < 40; i++) bias[i] = 1000.0f + i;
    cnn_conv_pack(packed, kernel, bias, &c);
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 32; j++) {
                int col = p * 32 + j;
                float want = col < 40 ? kernel[k * 40 + col] : 0.0f;
                ck_assert_float_eq(packed[(p * 3 + k) * 32 + j], want);
            }
    for (int j = 0; j < 64; j++) ck_assert_float_eq(packed[192 + j], j < 40 ? bias[j] : 0.0f);
}
END_TEST

/* 3x3 stride-1 layers with 16 or more channels run by Winograd F(2x2, 3x3)
 * (they need scratch); each is checked against the direct reference sum:
 * partial tiles at odd sizes, channel counts off the vector width, padding
 * on one side only (a folded zero padding), no padding, slices, residuals,
 * several bands and threads. */
START_TEST(test_conv_winograd) {
    static const conv_case cases[] = {
        /* in_h in_w in_c out_c kh kw sh sw dh dw pt pb pl pr extra res act nobias */
        {8, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 1, 0},      /* smallest: 32 tiles */
        {9, 13, 19, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, RES_NONE, 5, 0},      /* odd, slice, tanh */
        {14, 16, 33, 70, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_SEPARATE, 4, 0}, /* valid */
        {11, 13, 48, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_ALIAS, 1, 0},    /* residual == out */
        {10, 15, 24, 32, 3, 3, 1, 1, 1, 1, 2, 0, 0, 2, 0, RES_NONE, 6, 1},     /* one-sided padding */
        {17, 7, 17, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 0, 0},      /* 16 + 1 channels */
        {39, 37, 20, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_SEPARATE, 2, 0}, /* 380 tiles: uneven bands */
        {24, 30, 40, 48, 3, 3, 1, 1, 1, 1, 2, 0, 0, 2, 6, RES_SEPARATE, 3, 0}, /* all at once, 2 threads */
    };
    const int n_cases = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < n_cases; k++) {
        cnn_conv c = make_conv(&cases[k]);
        ck_assert_msg(cnn_conv_scratch_floats(&c) > 0, "case %d does not run by Winograd", k);
    }
    check_conv_cases("winograd", cases, n_cases, 3);
    /* and what stays direct: too few channels, stride 2, dilation 2, 1x1,
     * fewer than 32 tiles (7x7: 16) */
    static const conv_case direct[] = {
        {7, 7, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 0, 0},
        {8, 8, 15, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 0, 0},
        {8, 8, 32, 15, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 0, 0},
        {8, 8, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 0, 0},
        {8, 8, 32, 32, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0, RES_NONE, 0, 0},
        {8, 8, 32, 32, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, RES_NONE, 0, 0},
    };
    for (int k = 0; k < (int)(sizeof direct / sizeof direct[0]); k++) {
        cnn_conv c = make_conv(&direct[k]);
        ck_assert_msg(cnn_conv_scratch_floats(&c) == 0, "direct case %d needs scratch", k);
    }
    /* A Winograd convolution never fuses with the depthwise layer after it
     * (the ring path reads the direct layout); the same layer dilated, on
     * the direct path, does: nothing else keeps the first from fusing. */
    static const conv_case pair[] = {
        {64, 64, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, RES_NONE, 1, 0},
        {64, 64, 16, 16, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0, RES_NONE, 1, 0},
    };
    for (int k = 0; k < 2; k++) {
        cnn_conv c = make_conv(&pair[k]);
        cnn_dwconv d;
        memset(&d, 0, sizeof d);
        d.geom = c;
        d.geom.in_h = c.out_h, d.geom.in_w = c.out_w, d.geom.in_c = c.out_c;
        d.geom.dil_h = d.geom.dil_w = 1, d.geom.pad_top = d.geom.pad_left = 1;
        d.depth_multiplier = 1;
        ck_assert_msg(cnn_conv_dw_fusable(&c, &d) == (k == 1), "%s 3x3 layer: fusable %d",
                      k ? "dilated" : "Winograd", cnn_conv_dw_fusable(&c, &d));
    }
}
END_TEST

/* The Winograd layout, from U = G g G^T with G = [1 0 0; .5 .5 .5; .5 -.5 .5;
 * 0 0 1]: a kernel whose only non-zero tap is the centre, g, gives
 * U = (0, .5, -.5, 0)^T (0, .5, -.5, 0) g: +g/4 at positions 5 and 10,
 * -g/4 at 6 and 9, zero elsewhere.  16 blocks, each the packed layout of a
 * 1x1 in_c -> out_c convolution with a zero bias, then the bias. */
START_TEST(test_winograd_pack_layout) {
    cnn_conv c;
    memset(&c, 0, sizeof c);
    c.in_h = c.out_h = 8, c.in_w = c.out_w = 16, c.in_c = 16, c.out_c = 40, c.k_h = c.k_w = 3; /* 32 tiles */
    c.stride_h = c.stride_w = c.dil_h = c.dil_w = 1, c.pad_top = c.pad_left = 1, c.out_stride = 40;
    const size_t block = 2 * 32 * 16 + 64;
    ck_assert_uint_eq(cnn_conv_packed_floats(&c), 16 * block + 64);
    float *kernel = calloc(9 * 16 * 40, sizeof(float)), bias[40];
    float *packed = malloc(cnn_conv_packed_floats(&c) * sizeof(float));
    for (int ci = 0; ci < 16; ci++)
        for (int co = 0; co < 40; co++) kernel[(4 * 16 + ci) * 40 + co] = (float)(1 + ci * 40 + co);
    for (int i = 0; i < 40; i++) bias[i] = 1000.0f + i;
    cnn_conv_pack(packed, kernel, bias, &c);
    static const float factor[16] = {0, 0, 0, 0, 0, 0.25f, -0.25f, 0, 0, -0.25f, 0.25f, 0, 0, 0, 0, 0};
    for (int xi = 0; xi < 16; xi++) {
        const float *b = packed + xi * block;
        for (int p = 0; p < 2; p++)
            for (int ci = 0; ci < 16; ci++)
                for (int j = 0; j < 32; j++) {
                    int co = p * 32 + j;
                    float want = co < 40 ? factor[xi] * (float)(1 + ci * 40 + co) : 0.0f;
                    ck_assert_float_eq(b[(p * 16 + ci) * 32 + j], want);
                }
        for (int j = 0; j < 64; j++) ck_assert_float_eq(b[2 * 32 * 16 + j], 0.0f);
    }
    for (int j = 0; j < 64; j++) ck_assert_float_eq(packed[16 * block + j], j < 40 ? bias[j] : 0.0f);
    free(kernel), free(packed);
}
END_TEST

/* ---- depthwise ----------------------------------------------------------- */

static void ref_dwconv(float *out, const float *in, const float *kernel, const float *bias,
                       const cnn_dwconv *d) {
    const cnn_conv *c = &d->geom;
    int dm = d->depth_multiplier;
    for (int y = 0; y < c->out_h; y++)
        for (int x = 0; x < c->out_w; x++)
            for (int o = 0; o < c->out_c; o++) {
                double sum = bias ? bias[o] : 0.0;
                int ci = o / dm;
                for (int ky = 0; ky < c->k_h; ky++)
                    for (int kx = 0; kx < c->k_w; kx++) {
                        int iy = y * c->stride_h + ky * c->dil_h - c->pad_top;
                        int ix = x * c->stride_w + kx * c->dil_w - c->pad_left;
                        if (iy < 0 || iy >= c->in_h || ix < 0 || ix >= c->in_w) continue;
                        sum += (double)in[(iy * c->in_w + ix) * c->in_c + ci] *
                               kernel[(ky * c->k_w + kx) * c->out_c + o];
                    }
                out[((size_t)y * c->out_w + x) * c->out_c + o] = ref_act((float)sum, &c->act);
            }
}

START_TEST(test_dwconv) {
    static const struct {
        conv_case k;
        int dm;
    } cases[] = {
        {{9, 11, 19, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0}, 1},
        {{10, 9, 35, 0, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 6, 0, 1, 0}, 1},
        {{8, 8, 5, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 3, 0}, 2},
        {{7, 12, 4, 0, 5, 3, 1, 2, 2, 1, 3, 4, 1, 1, 0, 0, 5, 1}, 3},
        {{29, 31, 64, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0}, 1},
        {{14, 14, 48, 0, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 6, 0}, 1},
        {{6, 6, 16, 0, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0}, 1},
        {{60, 60, 96, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0}, 1}, /* threads */
        /* the 3x3 row kernel's blocks: 7 wide (14, 7), 8 wide with a
         * partial last block (11), a row narrower than a block (3), left
         * padding with stride 2 */
        {{14, 14, 40, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0}, 1},
        {{13, 13, 17, 0, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 0, 3, 0}, 1},
        {{9, 21, 16, 0, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0}, 1},
        {{5, 3, 33, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, 1}, 1},
        {{15, 15, 24, 0, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0}, 1},
    };
    for (int i = 0; i < n_isas; i++) {
        cnnrt_set_isa(isas[i]);
        for (int threads = 1; threads <= 3; threads++) {
            cnnrt_set_threads(threads);
            for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
                conv_case k = cases[n].k;
                k.out_c = k.in_c * cases[n].dm;
                cnn_dwconv d;
                d.geom = make_conv(&k);
                d.depth_multiplier = cases[n].dm;
                const cnn_conv *c = &d.geom;
                size_t pix = (size_t)c->out_h * c->out_w, out_n = pix * c->out_c;
                float *in = rand_tensor((size_t)c->in_h * c->in_w * c->in_c);
                float *kernel = rand_tensor((size_t)c->k_h * c->k_w * c->out_c);
                float *bias = rand_tensor(c->out_c), *want = malloc(out_n * sizeof(float));
                float *packed = malloc(cnn_dwconv_packed_floats(&d) * sizeof(float));
                float *buf = filled(pix * c->out_stride, SENTINEL);
                int off = k.extra_channels / 2;
                cnn_dwconv_pack(packed, kernel, k.no_bias ? NULL : bias, &d);
                ref_dwconv(want, in, kernel, k.no_bias ? NULL : bias, &d);
                cnn_dwconv_forward(buf + off, in, packed, &d);
                double err = rel_error(buf + off, want, pix, c->out_c, c->out_stride);
                ck_assert_msg(err < TOL, "dwconv case %zu on %s: error %g", n, isa_name(isas[i]), err);
                for (size_t p = 0; p < pix; p++)
                    for (int j = 0; j < c->out_stride; j++)
                        if (j < off || j >= off + c->out_c)
                            ck_assert_float_eq(buf[p * c->out_stride + j], SENTINEL);
                free(in), free(kernel), free(bias), free(want), free(packed), free(buf);
            }
        }
    }
    cnnrt_set_threads(1);
}
END_TEST

/* ---- convolution then depthwise, through the ring ------------------------ */

/* cnn_conv_dw_forward against ref_conv then ref_dwconv.  The depthwise
 * input size is the convolution's output; its in_* fields in the case are
 * ignored.  Wide rows make bands of a few rows, so the ring wraps many
 * times.  The last case is large enough (2.9M multiply-adds) to run on two
 * threads, each with its own ring and a boundary inside the map. */
START_TEST(test_conv_dw) {
    static const struct {
        conv_case conv, dw;
        int dm;
    } cases[] = {
        /* pointwise then 3x3 stride 1: 40 wide, bands of 4, ring of 6 rows */
        {{23, 40, 16, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 0},
         {0, 0, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0},
         1},
        /* 3-channel 3x3 stride 2 (im2col) then 3x3 stride 2, Keras 'same' */
        {{47, 45, 3, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0},
         {0, 0, 0, 0, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 6, 0, 3, 0},
         1},
        /* 5x5 dilation 2 (ring of 10 rows for bands of 2), 40 channels */
        {{31, 64, 8, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1},
         {0, 0, 0, 0, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 0, 0, 4, 0},
         1},
        /* depth multiplier 2 (the portable row kernel), tanh */
        {{20, 50, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 5, 0},
         {0, 0, 0, 0, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0},
         2},
        /* one band covers the whole map (ring = all rows) */
        {{6, 9, 12, 20, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0},
         {0, 0, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0},
         1},
        /* two threads: 37 rows split at 18, 3x3 stride 2 after a pointwise */
        {{37, 48, 48, 33, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 0},
         {0, 0, 0, 0, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0},
         1},
    };
    for (int i = 0; i < n_isas; i++) {
        cnnrt_set_isa(isas[i]);
        for (int threads = 1; threads <= 3; threads++) {
            cnnrt_set_threads(threads);
            for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
                cnn_conv c = make_conv(&cases[n].conv);
                conv_case k = cases[n].dw;
                k.in_h = c.out_h, k.in_w = c.out_w, k.in_c = c.out_c, k.out_c = c.out_c * cases[n].dm;
                cnn_dwconv d;
                d.geom = make_conv(&k);
                d.depth_multiplier = cases[n].dm;
                const cnn_conv *g = &d.geom;
                size_t mid_n = (size_t)c.out_h * c.out_w * c.out_c, pix = (size_t)g->out_h * g->out_w;
                float *in = rand_tensor((size_t)c.in_h * c.in_w * c.in_c);
                float *ck = rand_tensor((size_t)c.k_h * c.k_w * c.in_c * c.out_c), *cb = rand_tensor(c.out_c);
                float *dk = rand_tensor((size_t)g->k_h * g->k_w * g->out_c), *db = rand_tensor(g->out_c);
                float *mid = malloc(mid_n * sizeof(float)), *want = malloc(pix * g->out_c * sizeof(float));
                float *cp = malloc(cnn_conv_packed_floats(&c) * sizeof(float));
                float *dp = malloc(cnn_dwconv_packed_floats(&d) * sizeof(float));
                float *ring = malloc(cnn_conv_dw_ring_floats(&c, &d) * sizeof(float));
                float *buf = filled(pix * g->out_stride, SENTINEL);
                int off = k.extra_channels / 2;
                cnn_conv_pack(cp, ck, cases[n].conv.no_bias ? NULL : cb, &c);
                cnn_dwconv_pack(dp, dk, db, &d);
                ref_conv(mid, in, ck, cases[n].conv.no_bias ? NULL : cb, NULL, &c);
                ref_dwconv(want, mid, dk, db, &d);
                cnn_conv_dw_forward(buf + off, in, ring, cp, dp, &c, &d);
                double err = rel_error(buf + off, want, pix, g->out_c, g->out_stride);
                ck_assert_msg(err < TOL, "conv+dw case %zu on %s, %d threads: error %g", n, isa_name(isas[i]),
                              threads, err);
                for (size_t p = 0; p < pix; p++)
                    for (int j = 0; j < g->out_stride; j++)
                        if (j < off || j >= off + g->out_c)
                            ck_assert_float_eq(buf[p * g->out_stride + j], SENTINEL);
                free(in), free(ck), free(cb), free(dk), free(db), free(mid), free(want);
                free(cp), free(dp), free(ring), free(buf);
            }
        }
    }
    cnnrt_set_threads(1);
}
END_TEST

/* ---- pooling ------------------------------------------------------------- */

static void ref_pool(float *out, const float *in, const cnn_pool *p, int is_max) {
    for (int y = 0; y < p->out_h; y++)
        for (int x = 0; x < p->out_w; x++)
            for (int c = 0; c < p->channels; c++) {
                double acc = is_max ? -INFINITY : 0.0;
                int count = 0;
                for (int ky = 0; ky < p->pool_h; ky++)
                    for (int kx = 0; kx < p->pool_w; kx++) {
                        int iy = y * p->stride_h + ky - p->pad_top;
                        int ix = x * p->stride_w + kx - p->pad_left;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) continue;
                        double v = in[(iy * p->in_w + ix) * p->channels + c];
                        acc = is_max ? (v > acc ? v : acc) : acc + v;
                        count++;
                    }
                out[(y * p->out_w + x) * p->channels + c] = (float)(is_max ? acc : acc / count);
            }
}

START_TEST(test_pool) {
    static const int cases[][11] = {
        /* in_h in_w ch pool_h pool_w s_h s_w pad_top pad_left extra same: 'same' (ceil) output
         * size, clipped at the bottom/right; else 'same' when padded, 'valid' otherwise */
        {8, 8, 5, 2, 2, 2, 2, 0, 0, 0, 0},
        {7, 9, 17, 3, 3, 2, 2, 1, 1, 4, 0},
        {14, 14, 33, 3, 3, 1, 1, 1, 1, 0, 0},
        {5, 6, 3, 3, 2, 2, 3, 1, 0, 2, 0},
        {28, 28, 6, 2, 2, 2, 2, 0, 0, 0, 0},
        {9, 9, 40, 3, 3, 2, 2, 1, 1, 3, 0},
        /* under 16 channels (whole windows from the input): 2x2 windows
         * clipped by the padding, a slice, 3x3, windows clipped at the
         * right and bottom (Keras 'same' for an odd size), strides 1 and 3 */
        {7, 7, 6, 2, 2, 2, 2, 1, 1, 3, 0},
        {9, 8, 12, 3, 3, 2, 2, 1, 1, 2, 0},
        {7, 9, 6, 2, 2, 2, 2, 0, 0, 1, 1},
        {6, 6, 5, 2, 2, 1, 1, 0, 0, 0, 0},
        {10, 11, 7, 2, 2, 3, 3, 0, 0, 2, 1},
        {8, 10, 3, 2, 2, 1, 1, 0, 0, 0, 1},
    };
    for (int i = 0; i < n_isas; i++) {
        cnnrt_set_isa(isas[i]);
        for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++)
            for (int is_max = 0; is_max <= 1; is_max++) {
                const int *k = cases[n];
                cnn_pool p;
                p.in_h = k[0], p.in_w = k[1], p.channels = k[2];
                p.pool_h = k[3], p.pool_w = k[4], p.stride_h = k[5], p.stride_w = k[6];
                p.pad_top = k[7], p.pad_left = k[8];
                p.out_h = k[10] || k[7] ? (p.in_h + p.stride_h - 1) / p.stride_h
                                        : (p.in_h - p.pool_h) / p.stride_h + 1;
                p.out_w = k[10] || k[8] || k[7] ? (p.in_w + p.stride_w - 1) / p.stride_w
                                                : (p.in_w - p.pool_w) / p.stride_w + 1;
                p.out_stride = p.channels + k[9];
                size_t pix = (size_t)p.out_h * p.out_w;
                float *in = rand_tensor((size_t)p.in_h * p.in_w * p.channels);
                float *want = malloc(pix * p.channels * sizeof(float));
                float *buf = filled(pix * p.out_stride, SENTINEL);
                int off = k[9] / 2;
                ref_pool(want, in, &p, is_max);
                if (is_max)
                    cnn_maxpool_forward(buf + off, in, &p);
                else
                    cnn_avgpool_forward(buf + off, in, &p);
                double err = rel_error(buf + off, want, pix, p.channels, p.out_stride);
                ck_assert_msg(err < TOL, "pool case %zu max=%d: error %g", n, is_max, err);
                for (size_t q = 0; q < pix; q++)
                    for (int j = 0; j < p.out_stride; j++)
                        if (j < off || j >= off + p.channels)
                            ck_assert_float_eq(buf[q * p.out_stride + j], SENTINEL);
                free(in), free(want), free(buf);
            }
    }
}
END_TEST

START_TEST(test_global_pool) {
    int pixels = 49, channels = 37;
    float *in = rand_tensor((size_t)pixels * channels), avg[37], max[37], want_avg[37], want_max[37];
    for (int c = 0; c < channels; c++) {
        double sum = 0;
        float m = in[c];
        for (int p = 0; p < pixels; p++) {
            sum += in[p * channels + c];
            m = in[p * channels + c] > m ? in[p * channels + c] : m;
        }
        want_avg[c] = (float)(sum / pixels), want_max[c] = m;
    }
    cnn_global_avgpool(avg, in, pixels, channels);
    cnn_global_maxpool(max, in, pixels, channels);
    ck_assert(rel_error(avg, want_avg, 1, channels, channels) < TOL);
    ck_assert(rel_error(max, want_max, 1, channels, channels) == 0.0);
    free(in);
}
END_TEST

/* ---- elementwise --------------------------------------------------------- */

START_TEST(test_activate) {
    size_t n = 1037;
    float *in = rand_tensor(n), *out = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) in[i] *= 12.0f; /* cover the saturated ends of tanh and sigmoid */
    for (int i = 0; i < n_isas; i++) {
        cnnrt_set_isa(isas[i]);
        for (int a = 0; a < N_ACTS; a++) {
            for (size_t j = 0; j < n; j++) want[j] = ref_act(in[j], &ACTS[a]);
            cnn_activate(out, in, n, &ACTS[a]);
            ck_assert_msg(rel_error(out, want, 1, (int)n, (int)n) < TOL, "act %d on %s", a,
                          isa_name(isas[i]));
            memcpy(out, in, n * sizeof(float));
            cnn_activate(out, out, n, &ACTS[a]); /* in place */
            ck_assert(rel_error(out, want, 1, (int)n, (int)n) < TOL);
        }
    }
    free(in), free(out), free(want);
}
END_TEST

/* tanh and sigmoid are approximations: hold them to 1e-6 relative. */
START_TEST(test_tanh_sigmoid_accuracy) {
    enum { N = 200001 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) x[i] = -20.0f + 40.0f * (float)i / (N - 1);
    /* the first 2000: +-1e-7 .. 1e-3, where a formula could cancel */
    for (int i = 0; i < 2000; i++)
        x[i] = (i % 2 ? -1.0f : 1.0f) * powf(10.0f, -7.0f + 4.0f * (float)i / 1999);
    x[N / 2] = 1e-30f;
    for (int i = 0; i < n_isas; i++) {
        cnnrt_set_isa(isas[i]);
        cnn_act tanh_act = {CNN_ACT_TANH, 0, 0, 0}, sig_act = {CNN_ACT_SIGMOID, 0, 0, 0};
        double worst = 0;
        cnn_activate(y, x, N, &tanh_act);
        for (int j = 0; j < N; j++) {
            double want = tanh((double)x[j]);
            double rel = fabs(y[j] - want) / fabs(want);
            worst = rel > worst ? rel : worst;
        }
        ck_assert_msg(worst < 1e-6, "tanh on %s: relative error %g", isa_name(isas[i]), worst);
        float ends[4] = {INFINITY, -INFINITY, NAN, 0.0f};
        cnn_activate(ends, ends, 4, &tanh_act);
        ck_assert_msg(fabsf(ends[0] - 1.0f) < 1e-6f && fabsf(ends[1] + 1.0f) < 1e-6f && isnan(ends[2]) &&
                          ends[3] == 0.0f,
                      "tanh(inf, -inf, nan, 0) on %s: %.9g %.9g %g %g", isa_name(isas[i]), ends[0], ends[1],
                      ends[2], ends[3]);
        worst = 0;
        cnn_activate(y, x, N, &sig_act);
        for (int j = 0; j < N; j++) {
            double want = 1.0 / (1.0 + exp(-(double)x[j]));
            double rel = fabs(y[j] - want) / fabs(want);
            worst = rel > worst ? rel : worst;
        }
        ck_assert_msg(worst < 1e-6, "sigmoid on %s: relative error %g", isa_name(isas[i]), worst);
    }
    free(x), free(y);
}
END_TEST

START_TEST(test_scale_shift_add) {
    int pixels = 23, channels = 19;
    size_t n = (size_t)pixels * channels;
    float *a = rand_tensor(n), *b = rand_tensor(n), *c = rand_tensor(n);
    float *scale = rand_tensor(channels), *shift = rand_tensor(channels);
    float *out = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) want[i] = a[i] * scale[i % channels] + shift[i % channels];
    cnn_scale_shift(out, a, scale, shift, pixels, channels);
    ck_assert(rel_error(out, want, 1, (int)n, (int)n) < TOL);
    for (int i = 0; i < n_isas; i++) {
        cnnrt_set_isa(isas[i]);
        for (int act = 0; act < N_ACTS; act++) {
            const float *ins[3] = {a, b, c};
            for (size_t j = 0; j < n; j++) want[j] = ref_act(a[j] + b[j] + c[j], &ACTS[act]);
            cnn_add(out, ins, 3, n, &ACTS[act]);
            ck_assert(rel_error(out, want, 1, (int)n, (int)n) < TOL);
            for (size_t j = 0; j < n; j++) want[j] = ref_act(a[j] + b[j], &ACTS[act]);
            memcpy(out, a, n * sizeof(float));
            ins[0] = out;
            cnn_add(out, ins, 2, n, &ACTS[act]); /* out == ins[0] */
            ck_assert(rel_error(out, want, 1, (int)n, (int)n) < TOL);
        }
    }
    free(a), free(b), free(c), free(scale), free(shift), free(out), free(want);
}
END_TEST

START_TEST(test_softmax) {
    int rows = 3, n = 1001;
    float *in = rand_tensor((size_t)rows * n), *out = malloc((size_t)rows * n * sizeof(float));
    float *want = malloc((size_t)rows * n * sizeof(float));
    for (int i = 0; i < n; i++)
        in[n + i] = in[n + i] * 100.0f + 500.0f; /* would overflow without the shift */
    for (int r = 0; r < rows; r++) {
        double max = in[r * n], sum = 0;
        for (int i = 0; i < n; i++) max = in[r * n + i] > max ? in[r * n + i] : max;
        for (int i = 0; i < n; i++) sum += exp(in[r * n + i] - max);
        for (int i = 0; i < n; i++) want[r * n + i] = (float)(exp(in[r * n + i] - max) / sum);
    }
    cnn_softmax(out, in, rows, n);
    /* probabilities are small: compare relative to the largest one */
    for (int r = 0; r < rows; r++) {
        float scale = 0;
        for (int i = 0; i < n; i++) scale = want[r * n + i] > scale ? want[r * n + i] : scale;
        for (int i = 0; i < n; i++)
            ck_assert_msg(fabsf(out[r * n + i] - want[r * n + i]) / scale < TOL, "softmax row %d", r);
    }
    free(in), free(out), free(want);
}
END_TEST

START_TEST(test_lrn) {
    static const float betas[] = {0.5f, 0.75f, 1.0f, 0.6f};
    int pixels = 13, channels = 37, radius = 5;
    size_t n = (size_t)pixels * channels;
    float *in = rand_tensor(n), *out = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    for (int i = 0; i < n_isas; i++)
        for (int b = 0; b < 4; b++) {
            cnnrt_set_isa(isas[i]);
            float bias = 2.0f, alpha = 1e-2f, beta = betas[b];
            for (int p = 0; p < pixels; p++)
                for (int c = 0; c < channels; c++) {
                    double sum = 0;
                    for (int i = c - radius; i <= c + radius; i++)
                        if (i >= 0 && i < channels)
                            sum += (double)in[p * channels + i] * in[p * channels + i];
                    want[p * channels + c] = (float)(in[p * channels + c] / pow(bias + alpha * sum, beta));
                }
            cnn_lrn(out, in, pixels, channels, radius, bias, alpha, beta);
            ck_assert_msg(rel_error(out, want, 1, (int)n, (int)n) < TOL, "lrn beta %g on %s", beta,
                          isa_name(isas[i]));
            memcpy(out, in, n * sizeof(float));
            cnn_lrn(out, out, pixels, channels, radius, bias, alpha, beta);
            ck_assert(rel_error(out, want, 1, (int)n, (int)n) < TOL);
        }
    free(in), free(out), free(want);
}
END_TEST

/* Pooling, padding, add and LRN split their rows among threads above
 * CNN_PARALLEL_MIN_FLOATS: every thread count must give the single-thread
 * result exactly, on every ISA, including uneven splits and strided output. */
START_TEST(test_memory_layers_parallel) {
    int h = 45, w = 41, c = 67;
    size_t n = (size_t)h * w * c;
    float *a = rand_tensor(n), *b = rand_tensor(n), *c3 = rand_tensor(n);
    int oh = h + 3, ow = w + 2;
    size_t big = (size_t)oh * ow * (c + 5);
    float *want = malloc(big * sizeof(float)), *got = malloc(big * sizeof(float));
    for (int i = 0; i < n_isas; i++) {
        cnnrt_set_isa(isas[i]);
        for (int kind = 0; kind < 8; kind++) {
            cnn_pool p;
            p.in_h = h, p.in_w = w, p.channels = c;
            p.pool_h = 3, p.pool_w = 3, p.stride_h = kind == 1 ? 1 : 2, p.stride_w = 2;
            p.pad_top = 1, p.pad_left = 1;
            p.out_h = (h + p.stride_h - 1) / p.stride_h, p.out_w = (w + 1) / 2;
            p.out_stride = c + 5;
            if (kind >= 6) { /* rows wider than the row buffer: window by window */
                p.in_h = 15, p.in_w = 123, p.stride_h = 2;
                p.out_h = 8, p.out_w = 62;
            }
            const float *ins[3] = {a, b, c3};
            for (int threads = 1; threads <= 3; threads++) {
                float *dst = threads == 1 ? want : got;
                for (size_t j = 0; j < big; j++) dst[j] = SENTINEL;
                cnnrt_set_threads(threads);
                switch (kind) {
                case 0:
                case 6: cnn_maxpool_forward(dst + 2, a, &p); break;
                case 1:
                case 7: cnn_avgpool_forward(dst + 2, a, &p); break;
                case 2: cnn_zero_pad(dst, a, h, w, c, 1, 2, 0, 2); break;
                case 3: cnn_add(dst, ins, 3, n, &ACTS[1]); break;
                case 4: cnn_lrn(dst, a, h * w, c, 5, 2.0f, 1e-2f, 0.75f); break;
                case 5:
                    memcpy(dst, a, n * sizeof(float));
                    cnn_lrn(dst, dst, h * w, c, 2, 1.0f, 1e-3f, 0.5f); /* in place */
                    break;
                }
                if (threads == 1 && kind >= 6) {
                    size_t pix = (size_t)p.out_h * p.out_w;
                    float *ref = malloc(pix * c * sizeof(float));
                    ref_pool(ref, a, &p, kind == 6);
                    ck_assert_msg(rel_error(want + 2, ref, pix, c, p.out_stride) < TOL,
                                  "wide pool kind %d on %s", kind, isa_name(isas[i]));
                    free(ref);
                }
                if (threads > 1)
                    for (size_t j = 0; j < big; j++)
                        ck_assert_msg(memcmp(&got[j], &want[j], sizeof(float)) == 0,
                                      "kind %d, %d threads on %s: float %zu differs", kind, threads,
                                      isa_name(isas[i]), j);
            }
            cnnrt_set_threads(1);
        }
    }
    free(a), free(b), free(c3), free(want), free(got);
}
END_TEST

START_TEST(test_zero_pad_copy_channels) {
    int h = 3, w = 4, c = 5, top = 1, bottom = 2, left = 3, right = 1;
    int oh = h + top + bottom, ow = w + left + right;
    float *in = rand_tensor((size_t)h * w * c), *out = filled((size_t)oh * ow * c, SENTINEL);
    cnn_zero_pad(out, in, h, w, c, top, bottom, left, right);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int ch = 0; ch < c; ch++) {
                int iy = y - top, ix = x - left;
                float want = iy >= 0 && iy < h && ix >= 0 && ix < w ? in[(iy * w + ix) * c + ch] : 0.0f;
                ck_assert_float_eq(out[(y * ow + x) * c + ch], want);
            }
    int pixels = 7, stride = 11;
    float *cat = filled((size_t)pixels * stride, SENTINEL);
    cnn_copy_channels(cat + 4, stride, in, pixels, c);
    for (int p = 0; p < pixels; p++)
        for (int j = 0; j < stride; j++)
            ck_assert_float_eq(cat[p * stride + j], j >= 4 && j < 4 + c ? in[p * c + j - 4] : SENTINEL);
    free(in), free(out), free(cat);
}
END_TEST

START_TEST(test_batchnorm) {
    int channels = 7, kernel_floats = 3 * 3 * 2 * 7, pixels = 5;
    float *kernel = rand_tensor(kernel_floats), *bias = rand_tensor(channels);
    float *gamma = rand_tensor(channels), *beta = rand_tensor(channels), *mean = rand_tensor(channels);
    float *var = rand_tensor(channels), *orig_k = malloc(kernel_floats * sizeof(float));
    float *orig_b = malloc(channels * sizeof(float)), scale[7], shift[7];
    for (int c = 0; c < channels; c++) var[c] = var[c] * var[c] + 0.1f;
    memcpy(orig_k, kernel, kernel_floats * sizeof(float));
    memcpy(orig_b, bias, channels * sizeof(float));
    for (int with_params = 0; with_params <= 1; with_params++) {
        const float *g = with_params ? gamma : NULL, *bt = with_params ? beta : NULL;
        memcpy(kernel, orig_k, kernel_floats * sizeof(float));
        memcpy(bias, orig_b, channels * sizeof(float));
        cnn_bn_fold(kernel, kernel_floats, bias, channels, g, bt, mean, var, 1e-3f);
        for (int i = 0; i < kernel_floats; i++) {
            int c = i % channels;
            double s = (g ? g[c] : 1.0) / sqrt(var[c] + 1e-3);
            ck_assert(fabs(kernel[i] - orig_k[i] * s) < 1e-5 * (1 + fabs(orig_k[i] * s)));
        }
        for (int c = 0; c < channels; c++) {
            double s = (g ? g[c] : 1.0) / sqrt(var[c] + 1e-3);
            double want = (orig_b[c] - mean[c]) * s + (bt ? bt[c] : 0.0);
            ck_assert(fabs(bias[c] - want) < 1e-5 * (1 + fabs(want)));
        }
        cnn_bn_scale_shift(scale, shift, channels, g, bt, mean, var, 1e-3f);
        float *x = rand_tensor((size_t)pixels * channels), y[35];
        cnn_scale_shift(y, x, scale, shift, pixels, channels);
        for (int i = 0; i < pixels * channels; i++) {
            int c = i % channels;
            double want = (x[i] - mean[c]) / sqrt(var[c] + 1e-3) * (g ? g[c] : 1.0) + (bt ? bt[c] : 0.0);
            ck_assert(fabs(y[i] - want) < 1e-5 * (1 + fabs(want)));
        }
        free(x);
    }
    free(kernel), free(bias), free(gamma), free(beta), free(mean), free(var), free(orig_k), free(orig_b);
}
END_TEST

START_TEST(test_threads_setting) {
    cnnrt_set_threads(3);
    ck_assert_int_eq(cnnrt_threads(), 3);
    cnnrt_set_threads(0);
    ck_assert_int_eq(cnnrt_threads(), 1);
    cnnrt_set_threads(1000);
    ck_assert_int_le(cnnrt_threads(), 64);
    cnnrt_set_threads(1);
    ck_assert_int_eq(cnnrt_set_isa(CNN_ISA_GENERIC), CNN_ISA_GENERIC);
    ck_assert_int_eq(cnnrt_isa(), CNN_ISA_GENERIC);
}
END_TEST

static Suite *kernels_suite(void) {
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conv_pack_layout);
    tcase_add_test(tc, test_conv);
    tcase_add_test(tc, test_conv_parallel);
    tcase_add_test(tc, test_conv_winograd);
    tcase_add_test(tc, test_winograd_pack_layout);
    tcase_add_test(tc, test_dwconv);
    tcase_add_test(tc, test_conv_dw);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_global_pool);
    tcase_add_test(tc, test_activate);
    tcase_add_test(tc, test_tanh_sigmoid_accuracy);
    tcase_add_test(tc, test_scale_shift_add);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_lrn);
    tcase_add_test(tc, test_zero_pad_copy_channels);
    tcase_add_test(tc, test_memory_layers_parallel);
    tcase_add_test(tc, test_batchnorm);
    tcase_add_test(tc, test_threads_setting);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    find_isas();
    for (int i = 0; i < n_isas; i++) printf("test_kernels: testing ISA %s\n", isa_name(isas[i]));
    SRunner *sr = srunner_create(kernels_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
