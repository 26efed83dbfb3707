/*
 * main.c — the cnncc driver: reads the command line (SPEC §1), runs the
 * passes and writes the outputs.  Exit status: 0 success, 1 the model has
 * errors, 2 usage or I/O error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnncc.h"
#include "emit_c.h"
#include "output.h"
#include "plan.h"

static const char usage[] =
    "usage: cnncc FILE.arch -o OUT.c [--weights W.safetensors] [--prefix NAME] [--keep-aux]\n"
    "       cnncc --summary FILE.arch\n"
    "       cnncc --check FILE.arch\n"
    "       cnncc --emit=json|dot FILE.arch [-o OUT]\n"
    "       cnncc --init-weights FILE.arch -o W.safetensors [--seed N]\n"
    "       cnncc --help | --version\n"
    "\n"
    "  -o OUT             output file (C: OUT.c and OUT.h); default for json/dot: stdout\n"
    "  --summary          print the Keras-style model summary\n"
    "  --check            check the model only; exit 0 if it is valid\n"
    "  --emit=json|dot|c  what to write (default c when -o is given)\n"
    "  --weights W        embed the weights of W (safetensors) in the generated code\n"
    "  --init-weights     write Keras-default initial weights (glorot_uniform, zeros, BN 1/0/0/1)\n"
    "  --seed N           seed of --init-weights (default 1)\n"
    "  --prefix NAME      C symbol prefix (default: the model's name)\n"
    "  --keep-aux         keep auxiliary outputs in the generated code\n"
    "  FILE '-'           read standard input\n";

typedef enum { MODE_NONE, MODE_C, MODE_SUMMARY, MODE_CHECK, MODE_JSON, MODE_DOT, MODE_INIT } Mode;

typedef struct {
    Mode mode;
    const char *input, *output, *weights, *prefix;
    unsigned long long seed;
    int keep_aux;
} Options;

static int usage_error(const char *fmt, const char *arg) {
    fputs("cnncc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'cnncc --help'.\n", stderr);
    return 2;
}

static int set_mode(Options *o, Mode m, const char *arg) {
    if (o->mode != MODE_NONE && o->mode != m)
        return usage_error("'%s' conflicts with an earlier mode option", arg);
    o->mode = m;
    return 0;
}

/* Returns -1 to continue, else an exit status. */
static int parse_args(int argc, char **argv, Options *o) {
    memset(o, 0, sizeof *o);
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("cnncc %s\n", CNNCC_VERSION);
            return 0;
        } else if (strcmp(a, "--summary") == 0)
            rc = set_mode(o, MODE_SUMMARY, a);
        else if (strcmp(a, "--check") == 0)
            rc = set_mode(o, MODE_CHECK, a);
        else if (strcmp(a, "--init-weights") == 0)
            rc = set_mode(o, MODE_INIT, a);
        else if (strcmp(a, "--emit=json") == 0)
            rc = set_mode(o, MODE_JSON, a);
        else if (strcmp(a, "--emit=dot") == 0)
            rc = set_mode(o, MODE_DOT, a);
        else if (strcmp(a, "--emit=c") == 0)
            rc = set_mode(o, MODE_C, a);
        else if (strcmp(a, "--keep-aux") == 0)
            o->keep_aux = 1;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--weights") == 0 || strcmp(a, "--prefix") == 0 ||
                 strcmp(a, "--seed") == 0) {
            if (i + 1 >= argc) return usage_error("option '%s' needs a value", a);
            const char *v = argv[++i];
            if (a[1] == 'o')
                o->output = v;
            else if (a[2] == 'w')
                o->weights = v;
            else if (a[2] == 'p')
                o->prefix = v;
            else {
                char *end;
                errno = 0;
                o->seed = strtoull(v, &end, 10);
                if (*v == '\0' || *end || errno || *v == '-') return usage_error("bad --seed value '%s'", v);
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (o->input) {
            return usage_error("more than one input file ('%s')", a);
        } else {
            o->input = a;
        }
        if (rc) return rc;
    }
    if (!o->input) return usage_error("%s", "no input file");
    if (o->mode == MODE_NONE) {
        if (!o->output)
            return usage_error("%s", "nothing to do: give -o OUT.c, --summary, --check or --emit");
        o->mode = MODE_C;
    }
    if ((o->mode == MODE_C || o->mode == MODE_INIT) && !o->output)
        return usage_error("%s", "-o is required here");
    if (o->weights && o->mode != MODE_C) return usage_error("%s", "--weights applies to C generation only");
    if (o->prefix && !emit_c_valid_prefix(o->prefix))
        return usage_error("prefix '%s' is not a C identifier", o->prefix);
    return -1;
}

/* The whole file, bounded by MAX_SOURCE_BYTES + 1 so the limit can be reported. */
static char *read_source(const char *path, size_t *size) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cnncc: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap || n > MAX_SOURCE_BYTES) break;
        cap *= 2;
        buf = xrealloc(buf, cap + 1);
    }
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (err) {
        fprintf(stderr, "cnncc: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *size = n;
    return buf;
}

/* json/dot/summary to -o or stdout. */
static int write_text(const Options *o, const Graph *g, const Plan *p) {
    OutFile of = {NULL, NULL, NULL};
    FILE *out = stdout;
    if (o->output && strcmp(o->output, "-") != 0) {
        if (out_open(&of, o->output) != 0) return 2;
        out = of.f;
    }
    if (o->mode == MODE_JSON)
        emit_json(out, g, p);
    else if (o->mode == MODE_DOT)
        emit_dot(out, g);
    else
        summary_print(out, g, p);
    if (of.f) return out_commit(&of) == 0 ? 0 : 2;
    return fflush(stdout) == 0 ? 0 : 2;
}

int main(int argc, char **argv) {
    Options o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;

    size_t size;
    char *text = read_source(o.input, &size);
    if (!text) return 2;
    Diag d;
    diag_init(&d, strcmp(o.input, "-") == 0 ? "<stdin>" : o.input, text, size);
    Node *root = parse_source(&d);
    Graph g;
    memset(&g, 0, sizeof g);
    rc = 1;
    if (root && elab_model(root, &g, &d) == 0) {
        Plan *p = plan_build(&g, o.keep_aux);
        switch (o.mode) {
        case MODE_CHECK: rc = 0; break;
        case MODE_SUMMARY:
        case MODE_JSON:
        case MODE_DOT: rc = write_text(&o, &g, p); break;
        case MODE_INIT: rc = emit_init_weights(&g, o.output, o.seed); break;
        case MODE_C: rc = emit_c(&g, p, o.output, o.prefix, o.weights); break;
        default: break;
        }
        plan_free(p);
    }
    graph_free(&g);
    ast_free(root);
    free(text);
    return rc;
}
