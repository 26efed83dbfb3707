/*
 * act.c — activations, in place or out of place, on any number of floats.
 *
 * Every producer applies its activation in its own epilogue; this file is
 * the fallback those epilogues call for tanh and sigmoid, and the body of
 * the `activation` layer.  tanh and sigmoid use the branch-free
 * approximations of cnnrt_internal.h (relative error < 1e-6), which the
 * compiler vectorizes; libm's would cost ~20 ns per element, more than the
 * whole of LeNet-5's budget.
 */
#include "cnnrt_internal.h"

void cnn_act_generic(float *x, size_t n, const cnn_act *act) {
    size_t i;
    switch (act->kind) {
    case CNN_ACT_RELU:
        for (i = 0; i < n; i++) x[i] = cnn_relu(x[i], act);
        break;
    case CNN_ACT_TANH:
        for (i = 0; i < n; i++) x[i] = cnn_tanhf(x[i]);
        break;
    case CNN_ACT_SIGMOID:
        for (i = 0; i < n; i++) x[i] = cnn_sigmoidf(x[i]);
        break;
    default: break;
    }
}

void cnn_activate(float *out, const float *in, size_t count, const cnn_act *act) {
    if (out != in) memmove(out, in, count * sizeof(float));
    cnn_kernels_get()->act(out, count, act);
}
