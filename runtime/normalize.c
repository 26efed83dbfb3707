/*
 * normalize.c — softmax, local response normalization and the
 * batch-normalization arithmetic done at load time.
 */
#include "cnnrt_internal.h"

/* Softmax over the last axis of (rows, n), shifted by the row maximum so
 * exp never overflows. */
void cnn_softmax(float *out, const float *in, int rows, int n) {
    for (long r = 0; r < rows; r++) {
        const float *src = in + r * n;
        float *dst = out + r * n;
        float max = src[0], sum = 0.0f;
        for (int i = 1; i < n; i++) max = src[i] > max ? src[i] : max;
        for (int i = 0; i < n; i++) {
            dst[i] = cnn_expf(src[i] - max);
            sum += dst[i];
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < n; i++) dst[i] *= inv;
    }
}

/* base^-beta; the betas models use are done with square roots, which
 * vectorize and are exact to an ulp or two. */
CNN_INLINE float pow_neg(float base, float beta) {
    if (beta == 0.5f) return 1.0f / sqrtf(base);
    if (beta == 0.75f) {
        float r = sqrtf(base);
        return 1.0f / (r * sqrtf(r));
    }
    if (beta == 1.0f) return 1.0f / base;
    return powf(base, -beta);
}

#define LRN_MAX_FLOATS 8192 /* channels + 2*radius: 32 KB of stack each */

/* One pixel: the squares go into a row padded with `radius` zeros on each
 * side, so every channel's window is the same 2r+1 shifted adds; plain
 * loops the compiler vectorizes.  dst may equal src. */
CNN_INLINE void lrn_pixel(float *dst, const float *src, int channels, int radius, float bias, float alpha,
                          float beta, float *sq, float *win) {
    for (int c = 0; c < channels; c++) sq[radius + c] = src[c] * src[c];
    for (int c = 0; c < channels; c++) win[c] = sq[c];
    for (int d = 1; d <= 2 * radius; d++)
        for (int c = 0; c < channels; c++) win[c] += sq[c + d];
    if (beta == 0.75f)
        for (int c = 0; c < channels; c++) {
            float r = sqrtf(bias + alpha * win[c]);
            dst[c] = src[c] / (r * sqrtf(r));
        }
    else
        for (int c = 0; c < channels; c++) dst[c] = src[c] * pow_neg(bias + alpha * win[c], beta);
}

CNN_INLINE void lrn_body(float *out, const float *in, int pixels, int channels, int radius, float bias,
                         float alpha, float beta) {
    float sq[LRN_MAX_FLOATS], win[LRN_MAX_FLOATS];
    for (int i = 0; i < radius; i++) sq[i] = sq[radius + channels + i] = 0.0f;
    for (long p = 0; p < pixels; p++)
        lrn_pixel(out + p * channels, in + p * channels, channels, radius, bias, alpha, beta, sq, win);
}

static void lrn_generic(float *out, const float *in, int pixels, int channels, int radius, float bias,
                        float alpha, float beta) {
    lrn_body(out, in, pixels, channels, radius, bias, alpha, beta);
}

#if CNN_X86
/* The same, with intrinsics: C99's sqrtf must set errno, which keeps the
 * compiler from vectorizing the scaling loop.  (b)^-0.75 is b^-0.5 * b^-0.25
 * from one square root, two reciprocal estimates and Newton steps. */
static CNN_TARGET_AVX512 void lrn_avx512(float *out, const float *in, int pixels, int channels, int radius,
                                         float bias, float alpha, float beta) {
    float sq[LRN_MAX_FLOATS + 16], win[LRN_MAX_FLOATS];
    const __m512 vbias = _mm512_set1_ps(bias), valpha = _mm512_set1_ps(alpha);
    const __m512 half = _mm512_set1_ps(0.5f), three = _mm512_set1_ps(3.0f);
    for (int i = 0; i < radius; i++) sq[i] = sq[radius + channels + i] = 0.0f;
    for (long p = 0; p < pixels; p++) {
        const float *src = in + p * channels;
        float *dst = out + p * channels;
        for (int c = 0; c < channels; c += 16) {
            __mmask16 m = channels - c >= 16 ? 0xFFFF : (__mmask16)((1u << (channels - c)) - 1);
            __m512 x = _mm512_maskz_loadu_ps(m, src + c);
            _mm512_mask_storeu_ps(sq + radius + c, m, _mm512_mul_ps(x, x));
        }
        for (int c = 0; c < channels; c += 16) {
            __mmask16 m = channels - c >= 16 ? 0xFFFF : (__mmask16)((1u << (channels - c)) - 1);
            __m512 acc = _mm512_maskz_loadu_ps(m, sq + c);
            for (int d = 1; d <= 2 * radius; d++)
                acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, sq + c + d));
            _mm512_mask_storeu_ps(win + c, m, acc);
        }
        if (beta != 0.75f && beta != 0.5f) {
            for (int c = 0; c < channels; c++) dst[c] = src[c] * pow_neg(bias + alpha * win[c], beta);
            continue;
        }
        for (int c = 0; c < channels; c += 16) {
            __mmask16 m = channels - c >= 16 ? 0xFFFF : (__mmask16)((1u << (channels - c)) - 1);
            __m512 b = _mm512_fmadd_ps(valpha, _mm512_maskz_loadu_ps(m, win + c), vbias);
            b = _mm512_mask_blend_ps(m, _mm512_set1_ps(1.0f), b);
            /* r = b^-0.5: estimate, then y *= (3 - b*y*y)/2 */
            __m512 r = _mm512_rsqrt14_ps(b);
            r = _mm512_mul_ps(_mm512_mul_ps(half, r), _mm512_fnmadd_ps(_mm512_mul_ps(b, r), r, three));
            __m512 scale = r;
            if (beta == 0.75f) {
                /* b^-0.25 = sqrt(b^-0.5) */
                __m512 q = _mm512_sqrt_ps(r);
                scale = _mm512_mul_ps(r, q);
            }
            _mm512_mask_storeu_ps(dst + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + c), scale));
        }
    }
}
#endif

/* Windows too wide for the stack rows: direct sums, one channel at a time
 * (out must not alias in here). */
static void lrn_direct(float *out, const float *in, int pixels, int channels, int radius, float bias,
                       float alpha, float beta) {
    for (long p = 0; p < pixels; p++) {
        const float *src = in + p * channels;
        float *dst = out + p * channels;
        for (int c = 0; c < channels; c++) {
            long lo = (long)c - radius, hi = (long)c + radius;
            lo = lo < 0 ? 0 : lo;
            hi = hi >= channels ? channels - 1 : hi;
            double sum = 0.0;
            for (long i = lo; i <= hi; i++) sum += (double)src[i] * src[i];
            dst[c] = src[c] * pow_neg(bias + alpha * (float)sum, beta);
        }
    }
}

/* tf.nn.local_response_normalization: sqr_sum over channels [c-r, c+r]
 * clipped to the tensor; out = in / (bias + alpha*sqr_sum)^beta.
 * In place (out == in) is allowed when channels + 2*depth_radius <= 8192. */
typedef struct {
    float *out;
    const float *in;
    int pixels, channels, radius;
    float bias, alpha, beta;
} lrn_job;

/* Pixels [pixels*index/n, pixels*(index+1)/n): every pixel is independent. */
static void lrn_task(void *ctx, int index, int n) {
    const lrn_job *j = ctx;
    long p0 = (long)j->pixels * index / n, p1 = (long)j->pixels * (index + 1) / n;
    float *out = j->out + (size_t)p0 * j->channels;
    const float *in = j->in + (size_t)p0 * j->channels;
    int pixels = (int)(p1 - p0);
    if ((long)j->channels + 2L * j->radius > LRN_MAX_FLOATS) {
        lrn_direct(out, in, pixels, j->channels, j->radius, j->bias, j->alpha, j->beta);
        return;
    }
#if CNN_X86
    if (cnn_kernels_get()->isa == CNN_ISA_AVX512) {
        lrn_avx512(out, in, pixels, j->channels, j->radius, j->bias, j->alpha, j->beta);
        return;
    }
#endif
    lrn_generic(out, in, pixels, j->channels, j->radius, j->bias, j->alpha, j->beta);
}

/* tf.nn.local_response_normalization: sqr_sum over channels [c-r, c+r]
 * clipped to the tensor; out = in / (bias + alpha*sqr_sum)^beta.
 * In place (out == in) is allowed when channels + 2*depth_radius <= 8192. */
void cnn_lrn(float *out, const float *in, int pixels, int channels, int depth_radius, float bias, float alpha,
             float beta) {
    lrn_job j = {out, in, pixels, channels, depth_radius, bias, alpha, beta};
    /* a few dozen operations per float: worth splitting well below the
     * copy threshold */
    int n = cnn_parallel_parts(8.0 * pixels * channels, pixels);
    if (n > 1)
        cnn_parallel(lrn_task, &j, n);
    else
        lrn_task(&j, 0, 1);
}

void cnn_bn_scale_shift(float *scale, float *shift, int channels, const float *gamma, const float *beta,
                        const float *mean, const float *var, float eps) {
    for (int c = 0; c < channels; c++) {
        double s = (gamma ? gamma[c] : 1.0) / sqrt((double)var[c] + eps);
        scale[c] = (float)s;
        shift[c] = (float)((beta ? beta[c] : 0.0) - mean[c] * s);
    }
}

void cnn_bn_fold(float *kernel, size_t kernel_floats, float *bias, int channels, const float *gamma,
                 const float *beta, const float *mean, const float *var, float eps) {
    for (size_t i = 0; i < kernel_floats; i++) {
        int c = (int)(i % (size_t)channels);
        kernel[i] = (float)(kernel[i] * ((gamma ? gamma[c] : 1.0) / sqrt((double)var[c] + eps)));
    }
    for (int c = 0; c < channels; c++) {
        double s = (gamma ? gamma[c] : 1.0) / sqrt((double)var[c] + eps);
        bias[c] = (float)((bias[c] - mean[c]) * s + (beta ? beta[c] : 0.0));
    }
}
