/*
 * act_avx512.c — the activations of act.c, 16 lanes at a time with the
 * vector forms of the same approximations (cnnrt_internal.h).
 */
#include "cnnrt_internal.h"

#if CNN_X86
CNN_TARGET_AVX512 void cnn_act_avx512(float *x, size_t n, const cnn_act *act) {
    if (act->kind == CNN_ACT_LINEAR) return;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, cnn_act16(_mm512_loadu_ps(x + i), act));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, m, cnn_act16(_mm512_maskz_loadu_ps(m, x + i), act));
    }
}
#endif
