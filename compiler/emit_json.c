/*
 * emit_json.c — the checked, inlined graph as JSON (SPEC §6), for tools and
 * tests.  Every argument of the op's table appears in "attrs" with its
 * default filled in; tuples are arrays.
 */
#include <stdio.h>
#include <string.h>

#include "cnncc.h"
#include "plan.h"

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_shape(FILE *out, const Shape *s) {
    fputc('[', out);
    for (int i = 0; i < s->rank; i++) fprintf(out, "%s%lld", i ? ", " : "", s->d[i]);
    fputc(']', out);
}

static void json_attr(FILE *out, const ArgSpec *spec, const Attr *a) {
    switch (spec->type) {
    case A_INT:
    case A_INT_POS0:
    case A_AXIS: fprintf(out, "%lld", a->i[0]); break;
    case A_INT2: fprintf(out, "[%lld, %lld]", a->i[0], a->i[1]); break;
    case A_FLOAT: fprintf(out, "%.17g", a->f); break;
    case A_FLOAT_OPT:
        if (a->set)
            fprintf(out, "%.17g", a->f);
        else
            fputs("null", out);
        break;
    case A_BOOL: fputs(a->i[0] ? "true" : "false", out); break;
    case A_PADDING: fputs(a->same ? "\"same\"" : "\"valid\"", out); break;
    case A_ACTIVATION: fprintf(out, "\"%s\"", ops_act_name(a->act)); break;
    case A_PAD4: fprintf(out, "[[%lld, %lld], [%lld, %lld]]", a->i[0], a->i[1], a->i[2], a->i[3]); break;
    }
}

static void json_names(FILE *out, const Graph *g, const int *idx, int n) {
    fputc('[', out);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", out);
        json_string(out, g->layers[idx[i]].name);
    }
    fputc(']', out);
}

static void json_layer(FILE *out, const Graph *g, const Layer *l) {
    fputs("{\"name\": ", out);
    json_string(out, l->name);
    fprintf(out, ", \"type\": \"%s\", \"op\": \"%s\", \"inputs\": ", l->op->keras_type, l->op->name);
    json_names(out, g, l->in, l->n_in);
    fputs(", \"shape\": ", out);
    json_shape(out, &l->shape);
    fprintf(out, ", \"params\": %lld, \"trainable\": %lld, \"macs\": %lld", l->params, l->trainable, l->macs);
    if (l->aux_only) fputs(", \"auxiliary\": true", out);
    fputs(",\n   \"attrs\": {", out);
    for (int i = 0; i < MAX_ATTRS && l->op->args[i].name; i++) {
        fprintf(out, "%s\"%s\": ", i ? ", " : "", l->op->args[i].name);
        json_attr(out, &l->op->args[i], &l->attr[i]);
    }
    fputs("},\n   \"weights\": {", out);
    for (int w = 0; w < l->n_weights; w++) {
        fprintf(out, "%s\"%s\": [", w ? ", " : "", l->weights[w].var);
        for (int k = 0; k < l->weights[w].rank; k++)
            fprintf(out, "%s%lld", k ? ", " : "", l->weights[w].shape[k]);
        fputc(']', out);
    }
    fputs("}}", out);
}

void emit_json(FILE *out, const Graph *g, const Plan *p) {
    fputs("{\"model\": ", out);
    json_string(out, g->model);
    fputs(",\n \"inputs\": [{\"name\": ", out);
    json_string(out, g->layers[0].name);
    fputs(", \"shape\": ", out);
    json_shape(out, &g->layers[0].shape);
    fputs("}],\n \"outputs\": ", out);
    json_names(out, g, g->outputs, g->n_outputs);
    fputs(", \"auxiliary_outputs\": ", out);
    json_names(out, g, g->aux_outputs, g->n_aux_outputs);
    fputs(",\n \"layers\": [", out);
    int first = 1;
    for (int i = 0; i < g->n; i++) {
        if (!g->layers[i].op) continue;
        fputs(first ? "\n  " : ",\n  ", out);
        first = 0;
        json_layer(out, g, &g->layers[i]);
    }
    fprintf(out,
            "],\n \"totals\": {\"params\": %lld, \"trainable\": %lld, \"non_trainable\": %lld, "
            "\"macs\": %lld, \"weight_bytes\": %lld",
            g->params, g->trainable, g->non_trainable, g->macs, g->params * 4);
    if (p)
        fprintf(out, ", \"arena_bytes\": %lld, \"arena_lower_bound\": %lld", plan_arena_bytes(p),
                plan_lower_bound(p));
    fputs("}}\n", out);
}
