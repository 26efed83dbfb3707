/*
 * summary.c — model.summary() as tf.keras 2.0-2.6 prints it, then cnncc's
 * own lines.
 *
 * Keras's classic print_row: each cell is cut at its column's stop, padded
 * to it, and the next cell overwrites the last character with a space.  A
 * plain chain uses 65 columns with stops at 29/55/65; any other graph uses
 * 98 with stops at 32/53/65/98 and a `Connected to` column, one extra row
 * per extra input.  Unlike Keras, a column widens to its longest cell plus
 * the one separating space, instead of cutting it.
 */
#include <stdio.h>
#include <string.h>

#include "cnncc.h"
#include "plan.h"

#define CELL 256

/* A chain: every layer has at most one input, which is the layer before it. */
static int sequential_like(const Graph *g) {
    for (int i = 1; i < g->n; i++)
        if (g->layers[i].n_in != 1 || g->layers[i].in[0] != i - 1) return 0;
    return 1;
}

static void layer_cells(const Graph *g, int i, char cells[4][CELL]) {
    const Layer *l = &g->layers[i];
    snprintf(cells[0], CELL, "%s (%s)", l->name, l->op ? l->op->keras_type : "InputLayer");
    char shape[96];
    shape_format(&l->shape, shape, sizeof shape);
    snprintf(cells[1], CELL, l->op ? "%s" : "[%s]", shape);
    snprintf(cells[2], CELL, "%lld", l->params);
    snprintf(cells[3], CELL, "%s", l->n_in ? g->layers[l->in[0]].name : "");
    if (l->n_in) strncat(cells[3], "[0][0]", CELL - strlen(cells[3]) - 1);
}

static void print_row(FILE *out, const char *const *cells, const int *stops, int n) {
    char line[4 * CELL + 16] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0) line[len - 1] = ' ';
        size_t cell = strlen(cells[i]), room = (size_t)stops[i] - len;
        if (cell > room) cell = room;
        memcpy(line + len, cells[i], cell);
        len += cell;
        while (len < (size_t)stops[i]) line[len++] = ' ';
    }
    fprintf(out, "%.*s\n", (int)len, line);
}

static void rule(FILE *out, char c, int width) {
    for (int i = 0; i < width; i++) fputc(c, out);
    fputc('\n', out);
}

/* Column stops: Keras's defaults, widened to fit every cell. */
static void column_stops(const Graph *g, int ncols, int *stops) {
    static const int chain[] = {29, 55, 65}, graph[] = {32, 53, 65, 98};
    const int *def = ncols == 3 ? chain : graph;
    int width[4];
    static const char *const header[] = {"Layer (type)", "Output Shape", "Param #", "Connected to"};
    for (int c = 0; c < ncols; c++) {
        width[c] = def[c] - (c ? def[c - 1] : 0);
        int need = (int)strlen(header[c]) + (c < ncols - 1);
        if (need > width[c]) width[c] = need;
    }
    for (int i = 0; i < g->n; i++) {
        char cells[4][CELL];
        layer_cells(g, i, cells);
        for (int c = 0; c < ncols; c++) {
            int need = (int)strlen(cells[c]) + (c < ncols - 1);
            if (need > width[c]) width[c] = need;
        }
        const Layer *l = &g->layers[i];
        for (int j = 1; j < l->n_in && ncols == 4; j++) {
            int need = (int)strlen(g->layers[l->in[j]].name) + 6;
            if (need > width[3]) width[3] = need;
        }
    }
    for (int c = 0; c < ncols; c++) stops[c] = width[c] + (c ? stops[c - 1] : 0);
}

void summary_print(FILE *out, const Graph *g, const Plan *p) {
    int ncols = sequential_like(g) ? 3 : 4, stops[4];
    column_stops(g, ncols, stops);
    int width = stops[ncols - 1];
    static const char *const header[] = {"Layer (type)", "Output Shape", "Param #", "Connected to"};

    fprintf(out, "Model: \"%s\"\n", g->model);
    rule(out, '_', width);
    print_row(out, header, stops, ncols);
    rule(out, '=', width);
    for (int i = 0; i < g->n; i++) {
        char cells[4][CELL];
        layer_cells(g, i, cells);
        const char *row[4] = {cells[0], cells[1], cells[2], cells[3]};
        print_row(out, row, stops, ncols);
        const Layer *l = &g->layers[i];
        for (int j = 1; j < l->n_in && ncols == 4; j++) {
            char conn[CELL];
            snprintf(conn, sizeof conn, "%s[0][0]", g->layers[l->in[j]].name);
            const char *extra[4] = {"", "", "", conn};
            print_row(out, extra, stops, ncols);
        }
        rule(out, i == g->n - 1 ? '=' : '_', width);
    }
    char buf[32];
    fmt_thousands(g->params, buf, sizeof buf);
    fprintf(out, "Total params: %s\n", buf);
    fmt_thousands(g->trainable, buf, sizeof buf);
    fprintf(out, "Trainable params: %s\n", buf);
    fmt_thousands(g->non_trainable, buf, sizeof buf);
    fprintf(out, "Non-trainable params: %s\n", buf);
    rule(out, '_', width);

    /* cnncc's lines: what an edge engineer needs and Keras does not show. */
    fmt_thousands(g->macs, buf, sizeof buf);
    fprintf(out, "Multiply-accumulates: %s\n", buf);
    fmt_thousands(g->params * 4, buf, sizeof buf);
    fprintf(out, "Weight bytes: %s (float32)\n", buf);
    if (g->n_aux_outputs && g->aux_params) {
        fmt_thousands(g->params - g->aux_params, buf, sizeof buf);
        fprintf(out, "Params without auxiliary heads: %s\n", buf);
    }
    if (p) {
        char lb[32];
        fmt_thousands(plan_arena_bytes(p), buf, sizeof buf);
        fmt_thousands(plan_lower_bound(p), lb, sizeof lb);
        fprintf(out, "Activation arena: %s bytes (liveness lower bound %s bytes)\n", buf, lb);
    }
}
