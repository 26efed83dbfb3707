/*
 * init_weights.c — `--init-weights`: the initial weights Keras would give
 * the model (glorot_uniform kernels, zero biases, batch normalization
 * gamma=1, beta=0, moving_mean=0, moving_variance=1), from a seeded
 * splitmix64 generator, so the same seed gives the same bytes everywhere.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "emit_c.h"

static unsigned long long splitmix64(unsigned long long *state) {
    unsigned long long z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Keras _compute_fans: the receptive field multiplies both fans. */
static double glorot_limit(const WeightSpec *w) {
    double fan_in = (double)w->shape[0], fan_out = (double)w->shape[w->rank - 1];
    if (w->rank > 2) {
        double field = 1;
        for (int k = 0; k < w->rank - 2; k++) field *= (double)w->shape[k];
        fan_in = (double)w->shape[w->rank - 2] * field;
        fan_out = (double)w->shape[w->rank - 1] * field;
    }
    return sqrt(6.0 / (fan_in + fan_out));
}

static void fill(float *data, long long n, const WeightSpec *w, unsigned long long *state) {
    int kernel = strstr(w->var, "kernel") != NULL;
    float constant = strcmp(w->var, "gamma") == 0 || strcmp(w->var, "moving_variance") == 0 ? 1.0f : 0.0f;
    double limit = kernel ? glorot_limit(w) : 0;
    for (long long i = 0; i < n; i++) {
        if (!kernel) {
            data[i] = constant;
            continue;
        }
        double u = (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
        data[i] = (float)((2 * u - 1) * limit);
    }
}

int emit_init_weights(const Graph *g, const char *path, unsigned long long seed) {
    int n = 0;
    for (int i = 0; i < g->n; i++) n += g->layers[i].n_weights;
    cnn_tensor_spec *specs = xcalloc((size_t)n + 1, sizeof *specs);
    float **data = xcalloc((size_t)n + 1, sizeof(float *));
    char **names = xcalloc((size_t)n + 1, sizeof(char *));
    unsigned long long state = seed;
    if (g->params > (16LL << 20))
        fprintf(stderr, "cnncc: generating %lld initial weights (%lld MB)...\n", g->params,
                g->params * 4 >> 20);
    int k = 0;
    for (int i = 0; i < g->n; i++)
        for (int w = 0; w < g->layers[i].n_weights; w++, k++) {
            const WeightSpec *ws = &g->layers[i].weights[w];
            long long count = 1;
            for (int d = 0; d < ws->rank; d++) count *= ws->shape[d];
            names[k] = xprintf("%s/%s", g->layers[i].name, ws->var);
            specs[k].name = names[k];
            specs[k].rank = ws->rank;
            memcpy(specs[k].shape, ws->shape, sizeof ws->shape);
            data[k] = xmalloc(sizeof(float) * (size_t)count);
            fill(data[k], count, ws, &state);
        }
    int rc = cnn_st_write(path, specs, n, (const float *const *)data);
    if (rc != 0) fprintf(stderr, "cnncc: cannot write %s: %s\n", path, cnn_st_strerror(rc));
    for (int x = 0; x < n; x++) {
        free(data[x]);
        free(names[x]);
    }
    free(data);
    free(names);
    free(specs);
    return rc == 0 ? 0 : 2;
}
