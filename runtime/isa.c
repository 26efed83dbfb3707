/*
 * isa.c — which kernels run on this CPU.
 *
 * The choice is made once, at the first kernel call, from a CPU feature
 * test, and can be forced with CNNRT_ISA or cnnrt_set_isa() so tests cover
 * every path on one machine.  Kernels fetch the table through
 * cnn_kernels_get(), a load and a compare after the first call.
 */
#include <stdlib.h>
#include <string.h>

#include "cnnrt_internal.h"

CNN_ALIGN(64) const float cnn_zero_row[CNN_ZERO_FLOATS];

static const cnn_kernels generic_kernels = {CNN_ISA_GENERIC, 4,   cnn_tile_generic, cnn_dw_rows_generic,
                                            cnn_act_generic, NULL};

#if CNN_X86
static const cnn_kernels avx2_kernels = {CNN_ISA_AVX2,    6,   cnn_tile_avx2, cnn_dw_rows_generic,
                                         cnn_act_generic, NULL};
static const cnn_kernels avx512_kernels = {CNN_ISA_AVX512,     CNN_MR_MAX,     cnn_tile_avx512,
                                           cnn_dw_rows_avx512, cnn_act_avx512, cnn_conv_small_avx512};
#endif

static const cnn_kernels *current;

static int best_supported(void) {
#if CNN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("fma"))
        return CNN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CNN_ISA_AVX2;
#endif
    return CNN_ISA_GENERIC;
}

int cnnrt_set_isa(int isa) {
    int best = best_supported();
    if (isa > best) isa = best;
    switch (isa) {
#if CNN_X86
    case CNN_ISA_AVX512: current = &avx512_kernels; break;
    case CNN_ISA_AVX2: current = &avx2_kernels; break;
#endif
    default: current = &generic_kernels; break;
    }
    return current->isa;
}

static void choose_from_env(void) {
    const char *env = getenv("CNNRT_ISA");
    int isa = CNN_ISA_AVX512;
    if (env && strcmp(env, "generic") == 0)
        isa = CNN_ISA_GENERIC;
    else if (env && strcmp(env, "avx2") == 0)
        isa = CNN_ISA_AVX2;
    cnnrt_set_isa(isa);
}

const cnn_kernels *cnn_kernels_get(void) {
    if (!current) choose_from_env();
    return current;
}

int cnnrt_isa(void) {
    return cnn_kernels_get()->isa;
}
