/*
 * st_internal.h — what the safetensors reader and writer share: the record
 * of the last error behind cnn_st_strerror.  Internal to libcnnrt.
 */
#ifndef ST_INTERNAL_H
#define ST_INTERNAL_H

#include <stddef.h>

#if defined(__GNUC__)
#define ST_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ST_PRINTF(f, a)
#endif

/* Record `code` and its message (printf-style) for cnn_st_strerror; returns code. */
int st_fail(int code, const char *fmt, ...) ST_PRINTF(2, 3);

/* Copy of `text` fit for a message: control bytes become '?', and text
 * longer than the buffer is cut with "...".  Returns buf. */
#define ST_SHOW_MAX 160
char *st_show(char buf[ST_SHOW_MAX], const char *text);

#endif
