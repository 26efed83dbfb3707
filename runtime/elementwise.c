/*
 * elementwise.c — layers that move or combine tensors without a reduction:
 * unfused batch normalization, add, zero padding, concatenation slices.
 * They are memory-bound; plain loops over contiguous channels vectorize,
 * and that is all they need.
 */
#include "cnnrt_internal.h"

/* out[p][c] = in[p][c]*scale[c] + shift[c]; (pixels, channels). */
void cnn_scale_shift(float *out, const float *in, const float *scale, const float *shift, int pixels,
                     int channels) {
    for (long p = 0; p < pixels; p++) {
        const float *src = in + p * channels;
        float *dst = out + p * channels;
        for (int c = 0; c < channels; c++) dst[c] = src[c] * scale[c] + shift[c];
    }
}

/* out = act(ins[0] + ... + ins[n_in-1]) over [i0, i1); out may equal ins[0]. */
static void add_range(float *out, const float *const *ins, int n_in, size_t i_begin, size_t i_end,
                      const cnn_act *act) {
    const size_t block = 1024; /* activate while the block is still in L1 */
    for (size_t i0 = i_begin; i0 < i_end; i0 += block) {
        size_t n = i_end - i0 < block ? i_end - i0 : block;
        float *dst = out + i0;
        const float *a = ins[0] + i0;
        if (n_in == 1) {
            if (dst != a) memmove(dst, a, n * sizeof(float));
        } else {
            const float *b = ins[1] + i0;
            for (size_t i = 0; i < n; i++) dst[i] = a[i] + b[i];
        }
        for (int k = 2; k < n_in; k++) {
            const float *src = ins[k] + i0;
            for (size_t i = 0; i < n; i++) dst[i] += src[i];
        }
        if (act->kind != CNN_ACT_LINEAR) cnn_kernels_get()->act(dst, n, act);
    }
}

typedef struct {
    float *out;
    const float *const *ins;
    int n_in;
    size_t count;
    const cnn_act *act;
} add_job;

/* Parts of whole 1024-float blocks (16-float, 64-byte aligned boundaries). */
static void add_task(void *ctx, int index, int n) {
    const add_job *j = ctx;
    size_t blocks = (j->count + 1023) / 1024;
    size_t b0 = blocks * (size_t)index / (size_t)n, b1 = blocks * (size_t)(index + 1) / (size_t)n;
    size_t i1 = b1 * 1024 < j->count ? b1 * 1024 : j->count;
    if (b0 * 1024 < i1) add_range(j->out, j->ins, j->n_in, b0 * 1024, i1, j->act);
}

void cnn_add(float *out, const float *const *ins, int n_in, size_t count, const cnn_act *act) {
    add_job j = {out, ins, n_in, count, act};
    int n = cnn_parallel_parts((double)count * (n_in + 1), (long)((count + 1023) / 1024));
    if (n > 1)
        cnn_parallel(add_task, &j, n);
    else
        add_range(out, ins, n_in, 0, count, act);
}

typedef struct {
    float *out;
    const float *in;
    int h, w, c, top, bottom, left, right;
} pad_job;

/* Input rows [h*index/n, h*(index+1)/n) with their side padding; the first
 * part also zeroes the top rows, the last the bottom ones. */
static void pad_task(void *ctx, int index, int n) {
    const pad_job *j = ctx;
    int c = j->c, w = j->w;
    size_t out_w = (size_t)w + j->left + j->right;
    size_t row = out_w * c;
    int y0 = (int)((long)j->h * index / n), y1 = (int)((long)j->h * (index + 1) / n);
    if (index == 0) memset(j->out, 0, (size_t)j->top * row * sizeof(float));
    float *dst = j->out + ((size_t)j->top + y0) * row;
    for (int y = y0; y < y1; y++, dst += row) {
        memset(dst, 0, (size_t)j->left * c * sizeof(float));
        memcpy(dst + (size_t)j->left * c, j->in + (size_t)y * w * c, (size_t)w * c * sizeof(float));
        memset(dst + ((size_t)j->left + w) * c, 0, (size_t)j->right * c * sizeof(float));
    }
    if (index == n - 1)
        memset(j->out + ((size_t)j->top + j->h) * row, 0, (size_t)j->bottom * row * sizeof(float));
}

/* (h, w, c) -> (h+top+bottom, w+left+right, c), zeros around. */
void cnn_zero_pad(float *out, const float *in, int h, int w, int c, int top, int bottom, int left,
                  int right) {
    pad_job j = {out, in, h, w, c, top, bottom, left, right};
    double floats = ((double)h + top + bottom) * ((double)w + left + right) * c;
    int n = cnn_parallel_parts(floats, h);
    if (n > 1)
        cnn_parallel(pad_task, &j, n);
    else
        pad_task(&j, 0, 1);
}

/* (pixels, channels) into a concatenation whose pixels are out_stride apart. */
void cnn_copy_channels(float *out, int out_stride, const float *in, int pixels, int channels) {
    for (long p = 0; p < pixels; p++)
        memcpy(out + p * out_stride, in + p * channels, (size_t)channels * sizeof(float));
}
