/*
 * prepare.c — from Keras weights to what the kernels read: batch
 * normalization folded into the convolution or dense layer before it (or
 * kept as a per-channel scale and shift), then packed.  The generated
 * m_load_weights and cnncc --weights both call this, so runtime-loaded and
 * embedded weights are the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"

static const float *opt(const float *raw, long long off) {
    return off < 0 ? NULL : raw + off;
}

static size_t kernel_floats(const cnn_prep *p) {
    if (p->kind == CNN_PREP_CONV) {
        const cnn_conv *c = p->desc;
        return (size_t)c->k_h * (size_t)c->k_w * (size_t)c->in_c * (size_t)c->out_c;
    }
    const cnn_dwconv *d = p->desc;
    return (size_t)d->geom.k_h * (size_t)d->geom.k_w * (size_t)d->geom.out_c;
}

int cnn_prepare(float *packed, float *raw, const cnn_prep *preps, int n_preps) {
    int max_channels = 1;
    for (int i = 0; i < n_preps; i++)
        if (preps[i].channels > max_channels) max_channels = preps[i].channels;
    float *bias = malloc(sizeof(float) * (size_t)max_channels);
    if (!bias) return CNN_E_NOMEM;

    for (int i = 0; i < n_preps; i++) {
        const cnn_prep *p = &preps[i];
        float *out = packed + p->packed;
        if (p->kind == CNN_PREP_SCALE_SHIFT) {
            cnn_bn_scale_shift(out, out + p->channels, p->channels, opt(raw, p->gamma), opt(raw, p->beta),
                               raw + p->mean, raw + p->var, p->eps);
            continue;
        }
        if (p->bias >= 0)
            memcpy(bias, raw + p->bias, sizeof(float) * (size_t)p->channels);
        else
            memset(bias, 0, sizeof(float) * (size_t)p->channels);
        if (p->mean >= 0)
            cnn_bn_fold(raw + p->kernel, kernel_floats(p), bias, p->channels, opt(raw, p->gamma),
                        opt(raw, p->beta), raw + p->mean, raw + p->var, p->eps);
        if (p->kind == CNN_PREP_CONV)
            cnn_conv_pack(out, raw + p->kernel, bias, p->desc);
        else
            cnn_dwconv_pack(out, raw + p->kernel, bias, p->desc);
    }
    free(bias);
    return 0;
}
