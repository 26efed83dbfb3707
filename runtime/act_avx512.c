/*
 * act_avx512.c — the activations of act.c compiled for AVX-512.  The C is
 * the same inline math; the target attribute lets the compiler vectorize
 * it 16 wide, which is all tanh and sigmoid need to stay off the profile.
 */
#include "cnnrt_internal.h"

#if CNN_X86
CNN_TARGET_AVX512 void cnn_act_avx512(float *x, size_t n, const cnn_act *act)
{
    size_t i;
    switch (act->kind) {
    case CNN_ACT_RELU: {
        float slope = act->negative_slope, max_value = act->max_value;
        if (act->has_max)
            for (i = 0; i < n; i++) {
                float v = x[i] < 0.0f ? x[i] * slope : x[i];
                x[i] = v > max_value ? max_value : v;
            }
        else
            for (i = 0; i < n; i++)
                x[i] = x[i] < 0.0f ? x[i] * slope : x[i];
        break;
    }
    case CNN_ACT_TANH:
        for (i = 0; i < n; i++)
            x[i] = cnn_tanhf(x[i]);
        break;
    case CNN_ACT_SIGMOID:
        for (i = 0; i < n; i++)
            x[i] = cnn_sigmoidf(x[i]);
        break;
    default:
        break;
    }
}
#endif
