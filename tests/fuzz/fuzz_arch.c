/*
 * fuzz_arch.c — libFuzzer target for the whole front end: lexer, parser,
 * elaboration, the plan, the summary and the JSON and DOT emitters.  Any
 * crash, sanitizer report, leak or time-out is a bug: every input must end
 * in output or diagnostics.  `make fuzz` builds and runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cnncc.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
    Diag d;
    diag_init(&d, "fuzz.arch", (const char *)data, size);
    d.out = sink;
    Node *root = parse_source(&d);
    Graph g;
    memset(&g, 0, sizeof g);
    if (root && elab_model(root, &g, &d) == 0) {
        Plan *p = plan_build(&g, 0);
        summary_print(sink, &g, p);
        emit_json(sink, &g, p);
        emit_dot(sink, &g);
        plan_free(p);
        p = plan_build(&g, 1);
        plan_free(p);
    }
    graph_free(&g);
    ast_free(root);
    return 0;
}
