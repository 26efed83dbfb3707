/*
 * ref.c — ref_infer: an independent, deliberately plain reference for cnncc.
 *
 *   ref_infer GRAPH.json WEIGHTS.safetensors INPUT.f32 OUT_PREFIX [--aux] [--verbose]
 *
 * Reads the graph printed by `cnncc --emit=json`, the weights (through the
 * runtime's safetensors reader only; no runtime kernel is used), and the
 * input (raw little-endian float32, H*W*C channels-last), runs the model
 * with obvious loops written from the Keras semantics, and writes every main
 * output (then, with --aux, every auxiliary output) as raw float32 to
 * OUT_PREFIX0.f32, OUT_PREFIX1.f32, ...
 *
 * Choices that make this a reference rather than a second implementation:
 * - every sum is accumulated in double and every activation is evaluated in
 *   double; only layer outputs are stored as float32 (one malloc'd buffer
 *   per layer, nothing reused or fused);
 * - batch normalization is applied as its own layer with Keras's formula,
 *   never folded into a convolution;
 * - each layer recomputes its output shape from the Keras rules and the
 *   program stops if cnncc's JSON says otherwise.
 * The only concession to speed is the loop order of the convolutions
 * (output pixel, kernel tap, input channel, output channel) so that the
 * kernel (kh, kw, cin, cout) is read contiguously in cout.
 *
 * --verbose prints, per layer, min / max / RMS of the output, and for every
 * softmax the min / max of the logits before it (to show that activations
 * neither explode nor vanish with the random weights).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnnrt.h"
#include "refgraph.h"

static int verbose;

/* ---- Helpers ------------------------------------------------------------ */

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ref_die("out of memory (%zu bytes)", bytes);
    return p;
}

static void expect_shape(const ref_node *n, int rank, int d0, int d1, int d2) {
    int ok = n->rank == rank && n->shape[0] == d0;
    if (rank == 3) ok = ok && n->shape[1] == d1 && n->shape[2] == d2;
    if (!ok) {
        if (rank == 3)
            ref_die("%s (%s): reference shape (%d, %d, %d) differs from the graph's", n->name, n->op, d0, d1,
                    d2);
        ref_die("%s (%s): reference shape (%d) differs from the graph's", n->name, n->op, d0);
    }
}

static const ref_node *input_node(const ref_graph *g, const ref_node *n, int i) {
    return &g->nodes[n->inputs[i]];
}

static void need_inputs(const ref_node *n, int count) {
    if (n->n_inputs != count) ref_die("%s (%s): %d inputs, expected %d", n->name, n->op, n->n_inputs, count);
}

static void need_rank3(const ref_node *in, const ref_node *n) {
    if (in->rank != 3) ref_die("%s (%s): input must have rank 3", n->name, n->op);
}

/* Keras conv_output_length and the TensorFlow 'same' split: the odd padding
 * pixel goes after (bottom/right). */
static void output_geometry(const ref_node *n, int in, int k, int stride, int dilation, const char *padding,
                            int *out, int *pad_before) {
    int k_eff = (k - 1) * dilation + 1;
    if (strcmp(padding, "valid") == 0) {
        if (in < k_eff) ref_die("%s: window %d larger than input %d", n->name, k_eff, in);
        *out = (in - k_eff) / stride + 1;
        *pad_before = 0;
    } else if (strcmp(padding, "same") == 0) {
        *out = (in + stride - 1) / stride;
        int total = (*out - 1) * stride + k_eff - in;
        if (total < 0) total = 0;
        *pad_before = total / 2;
    } else {
        ref_die("%s: unknown padding '%s'", n->name, padding);
    }
}

/* Apply a Keras activation to one row (softmax needs the whole row). */
static void activate_row(double *row, int count, const char *act, const ref_node *n) {
    if (strcmp(act, "linear") == 0) return;
    if (strcmp(act, "softmax") == 0) {
        double max = row[0], sum = 0;
        for (int i = 1; i < count; i++)
            if (row[i] > max) max = row[i];
        for (int i = 0; i < count; i++) {
            row[i] = exp(row[i] - max);
            sum += row[i];
        }
        for (int i = 0; i < count; i++) row[i] /= sum;
        return;
    }
    for (int i = 0; i < count; i++) {
        double x = row[i];
        if (strcmp(act, "relu") == 0)
            x = x > 0 ? x : 0;
        else if (strcmp(act, "relu6") == 0)
            x = x < 0 ? 0 : (x > 6 ? 6 : x);
        else if (strcmp(act, "tanh") == 0)
            x = tanh(x);
        else if (strcmp(act, "sigmoid") == 0)
            x = 1.0 / (1.0 + exp(-x));
        else
            ref_die("%s: unknown activation '%s'", n->name, act);
        row[i] = x;
    }
}

/* Logits statistics before a softmax, for --verbose. */
static double logit_min = INFINITY, logit_max = -INFINITY;

static void note_logits(const double *row, int count, const char *act) {
    if (!verbose || strcmp(act, "softmax") != 0) return;
    for (int i = 0; i < count; i++) {
        if (row[i] < logit_min) logit_min = row[i];
        if (row[i] > logit_max) logit_max = row[i];
    }
}

/* Activate `pixels` rows of `channels` doubles and store them as float. */
static void finish_rows(float *out, double *acc, size_t pixels, int channels, const char *act,
                        const ref_node *n) {
    for (size_t p = 0; p < pixels; p++) {
        double *row = acc + p * (size_t)channels;
        note_logits(row, channels, act);
        activate_row(row, channels, act, n);
        for (int c = 0; c < channels; c++) out[p * (size_t)channels + (size_t)c] = (float)row[c];
    }
}

static const float *weight_data(const float *block, const ref_node *n, const char *variable, int required) {
    const ref_weight *w = ref_find_weight(n, variable);
    if (!w) {
        if (required) ref_die("%s: no weight '%s' in the graph", n->name, variable);
        return NULL;
    }
    return block + w->offset;
}

/* ---- Convolutions ------------------------------------------------------- */

struct conv_geom {
    int in_h, in_w, in_c;
    int out_h, out_w;
    int k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
};

static struct conv_geom conv_geometry(const ref_node *n, const ref_node *in, int has_dilation) {
    struct conv_geom g;
    const char *padding = ref_attr_string(n, "padding");
    need_rank3(in, n);
    g.in_h = in->shape[0];
    g.in_w = in->shape[1];
    g.in_c = in->shape[2];
    g.k_h = ref_attr_int_at(n, "kernel_size", 0);
    g.k_w = ref_attr_int_at(n, "kernel_size", 1);
    g.stride_h = ref_attr_int_at(n, "strides", 0);
    g.stride_w = ref_attr_int_at(n, "strides", 1);
    g.dil_h = has_dilation ? ref_attr_int_at(n, "dilation_rate", 0) : 1;
    g.dil_w = has_dilation ? ref_attr_int_at(n, "dilation_rate", 1) : 1;
    output_geometry(n, g.in_h, g.k_h, g.stride_h, g.dil_h, padding, &g.out_h, &g.pad_top);
    output_geometry(n, g.in_w, g.k_w, g.stride_w, g.dil_w, padding, &g.out_w, &g.pad_left);
    return g;
}

/* acc (out_h, out_w, out_c) += sum over taps of in * kernel (kh, kw, in_c, out_c).
 * Positions outside the input are zero padding and contribute nothing. */
static void conv_accumulate(double *acc, const float *in, const float *kernel, const struct conv_geom *g,
                            int out_c) {
    for (int oy = 0; oy < g->out_h; oy++)
        for (int ox = 0; ox < g->out_w; ox++) {
            double *acc_px = acc + ((size_t)oy * (size_t)g->out_w + (size_t)ox) * (size_t)out_c;
            for (int ky = 0; ky < g->k_h; ky++) {
                int iy = oy * g->stride_h + ky * g->dil_h - g->pad_top;
                if (iy < 0 || iy >= g->in_h) continue;
                for (int kx = 0; kx < g->k_w; kx++) {
                    int ix = ox * g->stride_w + kx * g->dil_w - g->pad_left;
                    if (ix < 0 || ix >= g->in_w) continue;
                    const float *in_px = in + ((size_t)iy * (size_t)g->in_w + (size_t)ix) * (size_t)g->in_c;
                    const float *k_tap =
                        kernel + ((size_t)ky * (size_t)g->k_w + (size_t)kx) * (size_t)g->in_c * (size_t)out_c;
                    for (int ci = 0; ci < g->in_c; ci++) {
                        double x = in_px[ci];
                        const float *k_row = k_tap + (size_t)ci * (size_t)out_c;
                        for (int co = 0; co < out_c; co++) acc_px[co] += x * (double)k_row[co];
                    }
                }
            }
        }
}

static double *bias_rows(const float *bias, size_t pixels, int channels) {
    double *acc = xmalloc(pixels * (size_t)channels * sizeof *acc);
    for (size_t p = 0; p < pixels; p++)
        for (int c = 0; c < channels; c++)
            acc[p * (size_t)channels + (size_t)c] = bias ? (double)bias[c] : 0.0;
    return acc;
}

static void run_conv2d(const ref_graph *gr, const ref_node *n, float **bufs, const float *wts) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    struct conv_geom g = conv_geometry(n, in, 1);
    int filters = ref_attr_int(n, "filters");
    expect_shape(n, 3, g.out_h, g.out_w, filters);
    const float *bias = ref_attr_bool(n, "use_bias") ? weight_data(wts, n, "bias", 1) : NULL;
    size_t pixels = (size_t)g.out_h * (size_t)g.out_w;
    double *acc = bias_rows(bias, pixels, filters);
    conv_accumulate(acc, bufs[n->inputs[0]], weight_data(wts, n, "kernel", 1), &g, filters);
    finish_rows(bufs[n - gr->nodes], acc, pixels, filters, ref_attr_string(n, "activation"), n);
    free(acc);
}

/* acc (out_h, out_w, in_c*dm): output channel c*dm + m reads input channel c
 * with depthwise_kernel[ky][kx][c][m]. */
static void depthwise_accumulate(double *acc, const float *in, const float *kernel, const struct conv_geom *g,
                                 int dm) {
    int out_c = g->in_c * dm;
    for (int oy = 0; oy < g->out_h; oy++)
        for (int ox = 0; ox < g->out_w; ox++) {
            double *acc_px = acc + ((size_t)oy * (size_t)g->out_w + (size_t)ox) * (size_t)out_c;
            for (int ky = 0; ky < g->k_h; ky++) {
                int iy = oy * g->stride_h + ky * g->dil_h - g->pad_top;
                if (iy < 0 || iy >= g->in_h) continue;
                for (int kx = 0; kx < g->k_w; kx++) {
                    int ix = ox * g->stride_w + kx * g->dil_w - g->pad_left;
                    if (ix < 0 || ix >= g->in_w) continue;
                    const float *in_px = in + ((size_t)iy * (size_t)g->in_w + (size_t)ix) * (size_t)g->in_c;
                    const float *k_tap = kernel + ((size_t)ky * (size_t)g->k_w + (size_t)kx) * (size_t)out_c;
                    for (int c = 0; c < g->in_c; c++)
                        for (int m = 0; m < dm; m++)
                            acc_px[c * dm + m] += (double)in_px[c] * (double)k_tap[c * dm + m];
                }
            }
        }
}

static void run_depthwise(const ref_graph *gr, const ref_node *n, float **bufs, const float *wts) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    struct conv_geom g = conv_geometry(n, in, 0);
    int dm = ref_attr_int(n, "depth_multiplier");
    int out_c = g.in_c * dm;
    expect_shape(n, 3, g.out_h, g.out_w, out_c);
    const float *bias = ref_attr_bool(n, "use_bias") ? weight_data(wts, n, "bias", 1) : NULL;
    size_t pixels = (size_t)g.out_h * (size_t)g.out_w;
    double *acc = bias_rows(bias, pixels, out_c);
    depthwise_accumulate(acc, bufs[n->inputs[0]], weight_data(wts, n, "depthwise_kernel", 1), &g, dm);
    finish_rows(bufs[n - gr->nodes], acc, pixels, out_c, ref_attr_string(n, "activation"), n);
    free(acc);
}

/* Depthwise (no bias), then a 1x1 pointwise convolution with the bias, then
 * the activation.  The intermediate stays in double. */
static void run_separable(const ref_graph *gr, const ref_node *n, float **bufs, const float *wts) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    struct conv_geom g = conv_geometry(n, in, 0);
    int dm = ref_attr_int(n, "depth_multiplier");
    int filters = ref_attr_int(n, "filters");
    int mid_c = g.in_c * dm;
    expect_shape(n, 3, g.out_h, g.out_w, filters);
    size_t pixels = (size_t)g.out_h * (size_t)g.out_w;
    double *mid = bias_rows(NULL, pixels, mid_c);
    depthwise_accumulate(mid, bufs[n->inputs[0]], weight_data(wts, n, "depthwise_kernel", 1), &g, dm);
    const float *pointwise = weight_data(wts, n, "pointwise_kernel", 1);
    const float *bias = ref_attr_bool(n, "use_bias") ? weight_data(wts, n, "bias", 1) : NULL;
    double *acc = bias_rows(bias, pixels, filters);
    for (size_t p = 0; p < pixels; p++)
        for (int ci = 0; ci < mid_c; ci++) {
            double x = mid[p * (size_t)mid_c + (size_t)ci];
            for (int co = 0; co < filters; co++)
                acc[p * (size_t)filters + (size_t)co] +=
                    x * (double)pointwise[(size_t)ci * (size_t)filters + (size_t)co];
        }
    finish_rows(bufs[n - gr->nodes], acc, pixels, filters, ref_attr_string(n, "activation"), n);
    free(mid);
    free(acc);
}

static void run_dense(const ref_graph *gr, const ref_node *n, float **bufs, const float *wts) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    if (in->rank != 1) ref_die("%s: dense needs a rank-1 input", n->name);
    int units = ref_attr_int(n, "units");
    expect_shape(n, 1, units, 0, 0);
    const float *bias = ref_attr_bool(n, "use_bias") ? weight_data(wts, n, "bias", 1) : NULL;
    const float *kernel = weight_data(wts, n, "kernel", 1);
    const float *x = bufs[n->inputs[0]];
    double *acc = bias_rows(bias, 1, units);
    for (int i = 0; i < in->shape[0]; i++)
        for (int u = 0; u < units; u++)
            acc[u] += (double)x[i] * (double)kernel[(size_t)i * (size_t)units + (size_t)u];
    finish_rows(bufs[n - gr->nodes], acc, 1, units, ref_attr_string(n, "activation"), n);
    free(acc);
}

/* ---- Pooling ------------------------------------------------------------ */

/* Max ignores padded positions; average divides by the number of
 * non-padded positions in the window (TensorFlow's 'same' behaviour). */
static void run_pool(const ref_graph *gr, const ref_node *n, float **bufs, int is_max) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    need_rank3(in, n);
    const char *padding = ref_attr_string(n, "padding");
    int in_h = in->shape[0], in_w = in->shape[1], ch = in->shape[2];
    int pool_h = ref_attr_int_at(n, "pool_size", 0), pool_w = ref_attr_int_at(n, "pool_size", 1);
    int stride_h = ref_attr_int_at(n, "strides", 0), stride_w = ref_attr_int_at(n, "strides", 1);
    int out_h, out_w, pad_top, pad_left;
    output_geometry(n, in_h, pool_h, stride_h, 1, padding, &out_h, &pad_top);
    output_geometry(n, in_w, pool_w, stride_w, 1, padding, &out_w, &pad_left);
    expect_shape(n, 3, out_h, out_w, ch);
    const float *x = bufs[n->inputs[0]];
    float *out = bufs[n - gr->nodes];
    for (int oy = 0; oy < out_h; oy++)
        for (int ox = 0; ox < out_w; ox++)
            for (int c = 0; c < ch; c++) {
                double best = -INFINITY, sum = 0;
                int count = 0;
                for (int ky = 0; ky < pool_h; ky++)
                    for (int kx = 0; kx < pool_w; kx++) {
                        int iy = oy * stride_h + ky - pad_top;
                        int ix = ox * stride_w + kx - pad_left;
                        if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
                        double v = x[((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)ch + (size_t)c];
                        if (v > best) best = v;
                        sum += v;
                        count++;
                    }
                if (count == 0) ref_die("%s: a pooling window sees no input", n->name);
                out[((size_t)oy * (size_t)out_w + (size_t)ox) * (size_t)ch + (size_t)c] =
                    (float)(is_max ? best : sum / count);
            }
}

static void run_global_pool(const ref_graph *gr, const ref_node *n, float **bufs, int is_max) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    need_rank3(in, n);
    int ch = in->shape[2];
    size_t pixels = (size_t)in->shape[0] * (size_t)in->shape[1];
    expect_shape(n, 1, ch, 0, 0);
    const float *x = bufs[n->inputs[0]];
    float *out = bufs[n - gr->nodes];
    for (int c = 0; c < ch; c++) {
        double best = -INFINITY, sum = 0;
        for (size_t p = 0; p < pixels; p++) {
            double v = x[p * (size_t)ch + (size_t)c];
            if (v > best) best = v;
            sum += v;
        }
        out[c] = (float)(is_max ? best : sum / (double)pixels);
    }
}

/* ---- Per-channel and elementwise layers --------------------------------- */

static void expect_same_shape(const ref_node *n, const ref_node *in) {
    expect_shape(n, in->rank, in->shape[0], in->shape[1], in->shape[2]);
}

/* gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta over
 * the last axis; scale=false drops gamma, center=false drops beta. */
static void run_batchnorm(const ref_graph *gr, const ref_node *n, float **bufs, const float *wts) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    expect_same_shape(n, in);
    int ch = in->shape[in->rank - 1];
    size_t pixels = in->size / (size_t)ch;
    double eps = ref_attr_number(n, "epsilon");
    const float *gamma = ref_attr_bool(n, "scale") ? weight_data(wts, n, "gamma", 1) : NULL;
    const float *beta = ref_attr_bool(n, "center") ? weight_data(wts, n, "beta", 1) : NULL;
    const float *mean = weight_data(wts, n, "moving_mean", 1);
    const float *var = weight_data(wts, n, "moving_variance", 1);
    const float *x = bufs[n->inputs[0]];
    float *out = bufs[n - gr->nodes];
    for (size_t p = 0; p < pixels; p++)
        for (int c = 0; c < ch; c++) {
            size_t i = p * (size_t)ch + (size_t)c;
            double y = ((double)x[i] - (double)mean[c]) / sqrt((double)var[c] + eps);
            if (gamma) y *= (double)gamma[c];
            if (beta) y += (double)beta[c];
            out[i] = (float)y;
        }
}

static void run_zero_padding(const ref_graph *gr, const ref_node *n, float **bufs) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    need_rank3(in, n);
    int top = ref_attr_int_at(n, "padding", 0), bottom = ref_attr_int_at(n, "padding", 1);
    int left = ref_attr_int_at(n, "padding", 2), right = ref_attr_int_at(n, "padding", 3);
    int in_h = in->shape[0], in_w = in->shape[1], ch = in->shape[2];
    int out_h = in_h + top + bottom, out_w = in_w + left + right;
    expect_shape(n, 3, out_h, out_w, ch);
    const float *x = bufs[n->inputs[0]];
    float *out = bufs[n - gr->nodes];
    for (int oy = 0; oy < out_h; oy++)
        for (int ox = 0; ox < out_w; ox++)
            for (int c = 0; c < ch; c++) {
                int iy = oy - top, ix = ox - left;
                int inside = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
                out[((size_t)oy * (size_t)out_w + (size_t)ox) * (size_t)ch + (size_t)c] =
                    inside ? x[((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)ch + (size_t)c] : 0.0f;
            }
}

/* Flatten of channels-last (H, W, C) is the row-major order itself. */
static void run_flatten(const ref_graph *gr, const ref_node *n, float **bufs) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    expect_shape(n, 1, (int)in->size, 0, 0);
    memcpy(bufs[n - gr->nodes], bufs[n->inputs[0]], in->size * sizeof(float));
}

static void run_identity(const ref_graph *gr, const ref_node *n, float **bufs) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    expect_same_shape(n, in);
    memcpy(bufs[n - gr->nodes], bufs[n->inputs[0]], in->size * sizeof(float));
}

static void run_activation(const ref_graph *gr, const ref_node *n, float **bufs) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    expect_same_shape(n, in);
    int ch = in->shape[in->rank - 1];
    size_t pixels = in->size / (size_t)ch;
    double *acc = xmalloc(in->size * sizeof *acc);
    for (size_t i = 0; i < in->size; i++) acc[i] = bufs[n->inputs[0]][i];
    finish_rows(bufs[n - gr->nodes], acc, pixels, ch, ref_attr_string(n, "activation"), n);
    free(acc);
}

/* Keras ReLU layer (threshold 0): max_value if x >= max_value, x if
 * 0 <= x < max_value, negative_slope * x below 0. */
static void run_relu_layer(const ref_graph *gr, const ref_node *n, float **bufs) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    expect_same_shape(n, in);
    int has_max = !ref_attr_is_null(n, "max_value");
    double max_value = has_max ? ref_attr_number(n, "max_value") : 0;
    double slope = ref_attr_number(n, "negative_slope");
    const float *x = bufs[n->inputs[0]];
    float *out = bufs[n - gr->nodes];
    for (size_t i = 0; i < in->size; i++) {
        double v = x[i];
        if (has_max && v >= max_value)
            v = max_value;
        else if (v < 0)
            v = slope * v;
        out[i] = (float)v;
    }
}

static void run_add(const ref_graph *gr, const ref_node *n, float **bufs) {
    if (n->n_inputs < 2) ref_die("%s: add needs two or more inputs", n->name);
    const ref_node *first = input_node(gr, n, 0);
    expect_same_shape(n, first);
    for (int k = 1; k < n->n_inputs; k++)
        if (input_node(gr, n, k)->size != first->size) ref_die("%s: add of unequal shapes", n->name);
    float *out = bufs[n - gr->nodes];
    for (size_t i = 0; i < first->size; i++) {
        double sum = 0;
        for (int k = 0; k < n->n_inputs; k++) sum += bufs[n->inputs[k]][i];
        out[i] = (float)sum;
    }
}

static void run_concatenate(const ref_graph *gr, const ref_node *n, float **bufs) {
    if (n->n_inputs < 2) ref_die("%s: concatenate needs two or more inputs", n->name);
    int axis = ref_attr_int(n, "axis");
    const ref_node *first = input_node(gr, n, 0);
    if (axis != -1 && axis != first->rank)
        ref_die("%s: concatenate on axis %d (channels only)", n->name, axis);
    int total_c = 0;
    size_t pixels = first->size / (size_t)first->shape[first->rank - 1];
    for (int k = 0; k < n->n_inputs; k++) {
        const ref_node *in = input_node(gr, n, k);
        if (in->rank != first->rank || in->size / (size_t)in->shape[in->rank - 1] != pixels)
            ref_die("%s: concatenate of unequal spatial shapes", n->name);
        total_c += in->shape[in->rank - 1];
    }
    if (first->rank == 3)
        expect_shape(n, 3, first->shape[0], first->shape[1], total_c);
    else
        expect_shape(n, 1, total_c, 0, 0);
    float *out = bufs[n - gr->nodes];
    int c_offset = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const ref_node *in = input_node(gr, n, k);
        int c_in = in->shape[in->rank - 1];
        const float *x = bufs[n->inputs[k]];
        for (size_t p = 0; p < pixels; p++)
            for (int c = 0; c < c_in; c++)
                out[p * (size_t)total_c + (size_t)(c_offset + c)] = x[p * (size_t)c_in + (size_t)c];
        c_offset += c_in;
    }
}

/* tf.nn.local_response_normalization over the last axis:
 * sqr_sum = sum of in[c']^2 for c' in [c - r, c + r] within range;
 * out = in / (bias + alpha * sqr_sum) ^ beta. */
static void run_lrn(const ref_graph *gr, const ref_node *n, float **bufs) {
    need_inputs(n, 1);
    const ref_node *in = input_node(gr, n, 0);
    expect_same_shape(n, in);
    int radius = ref_attr_int(n, "depth_radius");
    double bias = ref_attr_number(n, "bias"), alpha = ref_attr_number(n, "alpha");
    double beta = ref_attr_number(n, "beta");
    int ch = in->shape[in->rank - 1];
    size_t pixels = in->size / (size_t)ch;
    const float *x = bufs[n->inputs[0]];
    float *out = bufs[n - gr->nodes];
    for (size_t p = 0; p < pixels; p++) {
        const float *px = x + p * (size_t)ch;
        for (int c = 0; c < ch; c++) {
            int lo = c - radius < 0 ? 0 : c - radius;
            int hi = c + radius > ch - 1 ? ch - 1 : c + radius;
            double sqr_sum = 0;
            for (int j = lo; j <= hi; j++) sqr_sum += (double)px[j] * (double)px[j];
            out[p * (size_t)ch + (size_t)c] = (float)(px[c] / pow(bias + alpha * sqr_sum, beta));
        }
    }
}

/* ---- Driver ------------------------------------------------------------- */

static void run_node(const ref_graph *g, const ref_node *n, float **bufs, const float *wts) {
    const char *op = n->op;
    if (strcmp(op, "conv2d") == 0)
        run_conv2d(g, n, bufs, wts);
    else if (strcmp(op, "depthwise_conv2d") == 0)
        run_depthwise(g, n, bufs, wts);
    else if (strcmp(op, "separable_conv2d") == 0)
        run_separable(g, n, bufs, wts);
    else if (strcmp(op, "dense") == 0)
        run_dense(g, n, bufs, wts);
    else if (strcmp(op, "max_pooling2d") == 0)
        run_pool(g, n, bufs, 1);
    else if (strcmp(op, "average_pooling2d") == 0)
        run_pool(g, n, bufs, 0);
    else if (strcmp(op, "global_average_pooling2d") == 0)
        run_global_pool(g, n, bufs, 0);
    else if (strcmp(op, "global_max_pooling2d") == 0)
        run_global_pool(g, n, bufs, 1);
    else if (strcmp(op, "batch_normalization") == 0)
        run_batchnorm(g, n, bufs, wts);
    else if (strcmp(op, "zero_padding2d") == 0)
        run_zero_padding(g, n, bufs);
    else if (strcmp(op, "flatten") == 0)
        run_flatten(g, n, bufs);
    else if (strcmp(op, "dropout") == 0)
        run_identity(g, n, bufs);
    else if (strcmp(op, "activation") == 0)
        run_activation(g, n, bufs);
    else if (strcmp(op, "relu") == 0)
        run_relu_layer(g, n, bufs);
    else if (strcmp(op, "add") == 0)
        run_add(g, n, bufs);
    else if (strcmp(op, "concatenate") == 0)
        run_concatenate(g, n, bufs);
    else if (strcmp(op, "lrn") == 0)
        run_lrn(g, n, bufs);
    else
        ref_die("%s: unknown op '%s'", n->name, op);
}

static void print_stats(const ref_node *n, const float *data) {
    double lo = INFINITY, hi = -INFINITY, sq = 0;
    size_t nans = 0;
    for (size_t i = 0; i < n->size; i++) {
        double v = data[i];
        if (v != v) {
            nans++;
            continue;
        }
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        sq += v * v;
    }
    fprintf(stderr, "%-32s %-26s min %11.4g max %11.4g rms %11.4g%s\n", n->name, n->op, lo, hi,
            sqrt(sq / (double)n->size), nans ? "  NaN!" : "");
}

/* Mark the nodes the requested outputs depend on (inputs precede users). */
static char *needed_nodes(const ref_graph *g, int with_aux) {
    char *needed = calloc((size_t)g->n_nodes, 1);
    if (!needed) ref_die("out of memory");
    for (int i = 0; i < g->n_outputs; i++) needed[g->outputs[i]] = 1;
    for (int i = 0; with_aux && i < g->n_aux_outputs; i++) needed[g->aux_outputs[i]] = 1;
    for (int i = g->n_nodes - 1; i > 0; i--)
        for (int k = 0; needed[i] && k < g->nodes[i].n_inputs; k++) needed[g->nodes[i].inputs[k]] = 1;
    return needed;
}

static float *load_weights(const ref_graph *g, const char *path) {
    cnn_tensor_spec *specs = calloc((size_t)g->n_weight_tensors + 1, sizeof *specs);
    int k = 0;
    if (!specs) ref_die("out of memory");
    for (int i = 0; i < g->n_nodes; i++)
        for (int w = 0; w < g->nodes[i].n_weights; w++) {
            const ref_weight *rw = &g->nodes[i].weights[w];
            specs[k].name = rw->tensor_name;
            specs[k].rank = rw->rank;
            for (int d = 0; d < rw->rank; d++) specs[k].shape[d] = rw->shape[d];
            k++;
        }
    float *block = NULL;
    int status = cnn_st_load(path, specs, k, &block);
    if (status != CNN_OK) ref_die("%s: %s", path, cnn_st_strerror(status));
    free(specs);
    return block;
}

static void read_input(const char *path, float *dst, size_t count) {
    size_t len;
    char *bytes = ref_read_file(path, &len);
    if (len != count * 4) ref_die("%s: %zu bytes, expected %zu (float32 x %zu)", path, len, count * 4, count);
    for (size_t i = 0; i < count; i++) {
        const unsigned char *b = (const unsigned char *)bytes + 4 * i;
        unsigned long bits = (unsigned long)b[0] | (unsigned long)b[1] << 8 | (unsigned long)b[2] << 16 |
                             (unsigned long)b[3] << 24;
        unsigned int u = (unsigned int)bits;
        memcpy(&dst[i], &u, 4);
    }
    free(bytes);
}

static void write_output(const char *prefix, int index, const float *data, size_t count) {
    size_t len = strlen(prefix) + 32;
    char *path = xmalloc(len);
    snprintf(path, len, "%s%d.f32", prefix, index);
    FILE *f = fopen(path, "wb");
    if (!f) ref_die("cannot create %s", path);
    for (size_t i = 0; i < count; i++) {
        unsigned int u;
        memcpy(&u, &data[i], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        if (fwrite(b, 1, 4, f) != 4) ref_die("cannot write %s", path);
    }
    if (fclose(f) != 0) ref_die("cannot write %s", path);
    free(path);
}

/* --verbose: a line per written output, to eyeball sanity (softmax sums). */
static void describe_output(int index, const ref_node *n, const float *data) {
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    size_t argmax = 0, nans = 0;
    for (size_t i = 0; i < n->size; i++) {
        double v = data[i];
        if (v != v) {
            nans++;
            continue;
        }
        sum += v;
        if (v < lo) lo = v;
        if (v > hi) {
            hi = v;
            argmax = i;
        }
    }
    fprintf(stderr, "output %d %s: %zu values, sum %.9g, min %.6g, max %.6g at %zu, NaN %zu\n", index,
            n->name, n->size, sum, lo, hi, argmax, nans);
}

static void usage(void) {
    fputs("usage: ref_infer GRAPH.json WEIGHTS.safetensors INPUT.f32 OUT_PREFIX "
          "[--aux] [--verbose]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv) {
    const char *paths[4];
    int n_paths = 0, with_aux = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--aux") == 0)
            with_aux = 1;
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (n_paths < 4)
            paths[n_paths++] = argv[i];
        else
            usage();
    }
    if (n_paths != 4) usage();

    ref_graph g;
    clock_t load_start = clock();
    ref_graph_load(&g, paths[0]);
    float *weights = load_weights(&g, paths[1]);
    if (verbose)
        fprintf(stderr, "graph and weights loaded: %.2f s CPU\n",
                (double)(clock() - load_start) / CLOCKS_PER_SEC);
    char *needed = needed_nodes(&g, with_aux);
    float **bufs = xmalloc((size_t)g.n_nodes * sizeof *bufs);
    memset(bufs, 0, (size_t)g.n_nodes * sizeof *bufs);
    bufs[0] = xmalloc(g.nodes[0].size * sizeof(float));
    read_input(paths[2], bufs[0], g.nodes[0].size);

    clock_t start = clock();
    for (int i = 1; i < g.n_nodes; i++) {
        if (!needed[i]) continue;
        bufs[i] = xmalloc(g.nodes[i].size * sizeof(float));
        run_node(&g, &g.nodes[i], bufs, weights);
        if (verbose) print_stats(&g.nodes[i], bufs[i]);
    }
    if (verbose) {
        if (logit_min <= logit_max)
            fprintf(stderr, "logits before softmax: min %.6g max %.6g\n", logit_min, logit_max);
        fprintf(stderr, "inference: %.2f s CPU\n", (double)(clock() - start) / CLOCKS_PER_SEC);
    }

    int n_written = g.n_outputs + (with_aux ? g.n_aux_outputs : 0);
    for (int index = 0; index < n_written; index++) {
        int node = index < g.n_outputs ? g.outputs[index] : g.aux_outputs[index - g.n_outputs];
        write_output(paths[3], index, bufs[node], g.nodes[node].size);
        if (verbose) describe_output(index, &g.nodes[node], bufs[node]);
    }

    for (int i = 0; i < g.n_nodes; i++) free(bufs[i]);
    free(bufs);
    free(needed);
    cnn_st_free(weights);
    ref_graph_free(&g);
    return 0;
}
