/* gemm_avx2.c — placeholder until the AVX2 kernel lands. */
#include "cnnrt_internal.h"

#if CNN_X86
void cnn_tile_avx2(const cnn_tile *t) { cnn_tile_generic(t); }
#endif
