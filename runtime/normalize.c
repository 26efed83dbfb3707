/*
 * normalize.c — softmax, local response normalization and the
 * batch-normalization arithmetic done at load time.
 */
#include "cnnrt_internal.h"

/* Softmax over the last axis of (rows, n), shifted by the row maximum so
 * exp never overflows. */
void cnn_softmax(float *out, const float *in, int rows, int n)
{
    for (long r = 0; r < rows; r++) {
        const float *src = in + r * n;
        float *dst = out + r * n;
        float max = src[0], sum = 0.0f;
        for (int i = 1; i < n; i++)
            max = src[i] > max ? src[i] : max;
        for (int i = 0; i < n; i++) {
            dst[i] = cnn_expf(src[i] - max);
            sum += dst[i];
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < n; i++)
            dst[i] *= inv;
    }
}

/* base^-beta; the betas models use are done with square roots, which
 * vectorize and are exact to an ulp or two. */
static float pow_neg(float base, float beta)
{
    if (beta == 0.5f)
        return 1.0f / sqrtf(base);
    if (beta == 0.75f) {
        float r = sqrtf(base);
        return 1.0f / (r * sqrtf(r));
    }
    if (beta == 1.0f)
        return 1.0f / base;
    return powf(base, -beta);
}

/* tf.nn.local_response_normalization: sqr_sum over channels [c-r, c+r]
 * clipped to the tensor; out = in / (bias + alpha*sqr_sum)^beta.
 * In place (out == in) is exact for up to 4096 channels. */
void cnn_lrn(float *out, const float *in, int pixels, int channels, int depth_radius,
             float bias, float alpha, float beta)
{
    float sq[4096];
    for (long p = 0; p < pixels; p++) {
        const float *src = in + p * channels;
        float *dst = out + p * channels;
        for (int c0 = 0; c0 < channels; c0 += 4096) {
            int n = channels - c0 < 4096 ? channels - c0 : 4096;
            for (int c = 0; c < n; c++) {
                int lo = c0 + c - depth_radius, hi = c0 + c + depth_radius;
                lo = lo < 0 ? 0 : lo;
                hi = hi >= channels ? channels - 1 : hi;
                float sum = 0.0f;
                for (int i = lo; i <= hi; i++)
                    sum += src[i] * src[i];
                sq[c] = sum;
            }
            /* in place is allowed: dst is written only after its window was read */
            for (int c = 0; c < n; c++)
                sq[c] = pow_neg(bias + alpha * sq[c], beta);
            for (int c = 0; c < n; c++)
                dst[c0 + c] = src[c0 + c] * sq[c];
        }
    }
}

void cnn_bn_scale_shift(float *scale, float *shift, int channels, const float *gamma,
                        const float *beta, const float *mean, const float *var, float eps)
{
    for (int c = 0; c < channels; c++) {
        double s = (gamma ? gamma[c] : 1.0) / sqrt((double)var[c] + eps);
        scale[c] = (float)s;
        shift[c] = (float)((beta ? beta[c] : 0.0) - mean[c] * s);
    }
}

void cnn_bn_fold(float *kernel, size_t kernel_floats, float *bias, int channels,
                 const float *gamma, const float *beta, const float *mean,
                 const float *var, float eps)
{
    for (size_t i = 0; i < kernel_floats; i++) {
        int c = (int)(i % (size_t)channels);
        kernel[i] = (float)(kernel[i] * ((gamma ? gamma[c] : 1.0) / sqrt((double)var[c] + eps)));
    }
    for (int c = 0; c < channels; c++) {
        double s = (gamma ? gamma[c] : 1.0) / sqrt((double)var[c] + eps);
        bias[c] = (float)((bias[c] - mean[c]) * s + (beta ? beta[c] : 0.0));
    }
}
