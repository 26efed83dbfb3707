/*
 * util.c — allocation that cannot fail silently, formatting helpers and
 * overflow-checked arithmetic.  Out of memory is fatal: the compiler has
 * nothing useful to do without it, and every input size is bounded by the
 * documented limits long before memory runs out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnncc.h"

static void *check_alloc(void *p) {
    if (!p) {
        fputs("cnncc: out of memory\n", stderr);
        exit(2);
    }
    return p;
}

void *xmalloc(size_t n) {
    return check_alloc(malloc(n ? n : 1));
}
void *xcalloc(size_t n, size_t size) {
    return check_alloc(calloc(n ? n : 1, size ? size : 1));
}
void *xrealloc(void *p, size_t n) {
    return check_alloc(realloc(p, n ? n : 1));
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void fmt_thousands(long long v, char *buf, size_t size) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
    size_t o = 0;
    if (v < 0 && o + 1 < size) buf[o++] = '-';
    for (int i = 0; i < n && o + 1 < size; i++) {
        buf[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1 && o + 1 < size) buf[o++] = ',';
    }
    buf[o] = '\0';
}

int mul_limit(long long a, long long b, long long limit, long long *r) {
    if (a < 0 || b < 0) return 0;
    if (a != 0 && b > limit / a) return 0;
    *r = a * b;
    return 1;
}
