/*
 * elementwise.c — layers that move or combine tensors without a reduction:
 * unfused batch normalization, add, zero padding, concatenation slices.
 * They are memory-bound; plain loops over contiguous channels vectorize,
 * and that is all they need.
 */
#include "cnnrt_internal.h"

/* out[p][c] = in[p][c]*scale[c] + shift[c]; (pixels, channels). */
void cnn_scale_shift(float *out, const float *in, const float *scale, const float *shift,
                     int pixels, int channels)
{
    for (long p = 0; p < pixels; p++) {
        const float *src = in + p * channels;
        float *dst = out + p * channels;
        for (int c = 0; c < channels; c++)
            dst[c] = src[c] * scale[c] + shift[c];
    }
}

/* out = act(ins[0] + ... + ins[n_in-1]); out may equal ins[0]. */
void cnn_add(float *out, const float *const *ins, int n_in, size_t count, const cnn_act *act)
{
    const size_t block = 1024; /* activate while the block is still in L1 */
    for (size_t i0 = 0; i0 < count; i0 += block) {
        size_t n = count - i0 < block ? count - i0 : block;
        float *dst = out + i0;
        const float *a = ins[0] + i0;
        if (n_in == 1) {
            if (dst != a)
                memmove(dst, a, n * sizeof(float));
        } else {
            const float *b = ins[1] + i0;
            for (size_t i = 0; i < n; i++)
                dst[i] = a[i] + b[i];
        }
        for (int k = 2; k < n_in; k++) {
            const float *src = ins[k] + i0;
            for (size_t i = 0; i < n; i++)
                dst[i] += src[i];
        }
        if (act->kind != CNN_ACT_LINEAR)
            cnn_kernels_get()->act(dst, n, act);
    }
}

/* (h, w, c) -> (h+top+bottom, w+left+right, c), zeros around. */
void cnn_zero_pad(float *out, const float *in, int h, int w, int c,
                  int top, int bottom, int left, int right)
{
    size_t out_w = (size_t)w + left + right;
    size_t row = out_w * c;
    memset(out, 0, (size_t)top * row * sizeof(float));
    float *dst = out + (size_t)top * row;
    for (int y = 0; y < h; y++, dst += row) {
        memset(dst, 0, (size_t)left * c * sizeof(float));
        memcpy(dst + (size_t)left * c, in + (size_t)y * w * c, (size_t)w * c * sizeof(float));
        memset(dst + ((size_t)left + w) * c, 0, (size_t)right * c * sizeof(float));
    }
    memset(dst, 0, (size_t)bottom * row * sizeof(float));
}

/* (pixels, channels) into a concatenation whose pixels are out_stride apart. */
void cnn_copy_channels(float *out, int out_stride, const float *in, int pixels, int channels)
{
    for (long p = 0; p < pixels; p++)
        memcpy(out + p * out_stride, in + p * channels, (size_t)channels * sizeof(float));
}
