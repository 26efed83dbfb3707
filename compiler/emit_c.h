/* emit_c.h — C code generation (emit_c.c) and initial weights (init_weights.c). */
#ifndef EMIT_C_H
#define EMIT_C_H

#include "cnncc.h"
#include "plan.h"

int emit_c_valid_prefix(const char *prefix);
/* Writes OUT.c and OUT.h (and OUT.weights with embedded weights); exit status. */
int emit_c(const Graph *g, const Plan *p, const char *out_c, const char *prefix, const char *weights);
/* Keras-default initial weights as safetensors; exit status. */
int emit_init_weights(const Graph *g, const char *path, unsigned long long seed);

#endif
