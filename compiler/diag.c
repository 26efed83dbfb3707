/*
 * diag.c — compiler-style diagnostics:
 *
 *   file:line:col: error: message
 *       the source line
 *       ^~~~~
 *
 * Notes follow the error they explain.  Once MAX_ERRORS errors have been
 * reported the passes stop (diag_too_many) instead of flooding the screen.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cnncc.h"

void diag_init(Diag *d, const char *file, const char *text, size_t size) {
    memset(d, 0, sizeof *d);
    d->file = file;
    d->text = text;
    d->size = size;
    d->out = stderr;
}

int diag_too_many(const Diag *d) {
    return d->errors >= MAX_ERRORS;
}

/* Quote line `line` of the source with a caret under [col, col+len). */
static void quote_source(Diag *d, Loc loc) {
    if (!d->text || loc.line < 1) return;
    const char *p = d->text, *end = d->text + d->size;
    for (int l = 1; l < loc.line && p < end; p++)
        if (*p == '\n') l++;
    const char *eol = p;
    while (eol < end && *eol != '\n') eol++;
    int width = (int)(eol - p);
    if (width > 200) width = 200; /* a huge line: show its start */
    fprintf(d->out, "    %.*s\n    ", width, p);
    for (int i = 1; i < loc.col && i <= width; i++) fputc(p[i - 1] == '\t' ? '\t' : ' ', d->out);
    fputc('^', d->out);
    for (int i = 1; i < loc.len && loc.col + i <= width; i++) fputc('~', d->out);
    fputc('\n', d->out);
}

static void report(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap) {
    if (loc.line > 0)
        fprintf(d->out, "%s:%d:%d: %s: ", d->file, loc.line, loc.col, kind);
    else
        fprintf(d->out, "%s: %s: ", d->file, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    if (strcmp(kind, "note") != 0) quote_source(d, loc);
}

void diag_error(Diag *d, Loc loc, const char *fmt, ...) {
    if (d->errors++ >= MAX_ERRORS) return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "error", fmt, ap);
    va_end(ap);
    if (d->errors == MAX_ERRORS) fprintf(d->out, "%s: too many errors, stopping\n", d->file);
}

void diag_warning(Diag *d, Loc loc, const char *fmt, ...) {
    d->warnings++;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "warning", fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, Loc loc, const char *fmt, ...) {
    if (d->errors > MAX_ERRORS) return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "note", fmt, ap);
    va_end(ap);
}
