/* gemm_avx512.c — placeholder until the AVX-512 kernels land. */
#include "cnnrt_internal.h"

#if CNN_X86
void cnn_tile_avx512(const cnn_tile *t) { cnn_tile_generic(t); }
void cnn_dw_row_avx512(float *out, const float *in, const float *packed,
                       const cnn_dwconv *d, int y)
{
    cnn_dw_row_generic(out, in, packed, d, y);
}
#endif
