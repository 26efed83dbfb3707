/*
 * safetensors_write.c — cnn_st_write: F32 tensors to a safetensors file.
 *
 * The layout is the reference writer's: the 8-byte little-endian header
 * length, then compact JSON {"NAME":{"dtype":"F32","shape":[...],
 * "data_offsets":[B,E]},...} padded with spaces to a multiple of 8 bytes,
 * then the data, contiguous.  Unlike the reference (which sorts by dtype
 * alignment, then name) the tensors keep the caller's order; any order is
 * valid and cnn_st_load does not care.
 *
 * The file appears whole or not at all: everything is written to a
 * mkstemp file beside the target (same directory, hence same file system),
 * fsync'ed, closed and renamed over the target; the directory is then
 * fsync'ed on a best-effort basis.  On any failure the temporary file is
 * removed and an existing target is left as it was.  The new file takes
 * the mode of the file it replaces, or 0666 minus the umask.
 */
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif
#include "cnnrt.h"
#include "json_min.h"
#include "st_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Text that is either counted (buf NULL) or written. */
struct text {
    char *buf;
    size_t len;
};

static void put(struct text *t, const char *s, size_t n) {
    if (t->buf) memcpy(t->buf + t->len, s, n);
    t->len += n;
}

static void put_str(struct text *t, const char *s) {
    put(t, s, strlen(s));
}

static void put_u64(struct text *t, uint64_t v) {
    char digits[24];
    put(t, digits, (size_t)sprintf(digits, "%llu", (unsigned long long)v));
}

/* A JSON string: quote, backslash and control bytes escaped, UTF-8 as is. */
static void put_name(struct text *t, const char *name) {
    put(t, "\"", 1);
    for (; *name; name++) {
        unsigned char c = (unsigned char)*name;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(t, esc, 2);
        } else if (c < 0x20) {
            put(t, esc, (size_t)sprintf(esc, "\\u%04x", c));
        } else {
            put(t, name, 1);
        }
    }
    put(t, "\"", 1);
}

static uint64_t element_count(const cnn_tensor_spec *spec) {
    uint64_t count = 1;
    int i;
    for (i = 0; i < spec->rank; i++) count *= (uint64_t)spec->shape[i]; /* checked by check_specs */
    return count;
}

static void build_header(struct text *t, const cnn_tensor_spec *specs, int n_specs) {
    uint64_t offset = 0;
    int i, d;
    put(t, "{", 1);
    for (i = 0; i < n_specs; i++) {
        uint64_t bytes = 4 * element_count(&specs[i]);
        if (i) put(t, ",", 1);
        put_name(t, specs[i].name);
        put_str(t, ":{\"dtype\":\"F32\",\"shape\":[");
        for (d = 0; d < specs[i].rank; d++) {
            if (d) put(t, ",", 1);
            put_u64(t, (uint64_t)specs[i].shape[d]);
        }
        put_str(t, "],\"data_offsets\":[");
        put_u64(t, offset);
        put(t, ",", 1);
        put_u64(t, offset + bytes);
        put_str(t, "]}");
        offset += bytes;
    }
    put(t, "}", 1);
    while (t->len % 8) put(t, " ", 1);
}

static int valid_utf8(const char *s) {
    size_t len = strlen(s), n;
    for (; len > 0; s += n, len -= n)
        if (!(n = json_utf8_length((const unsigned char *)s, len))) return 0;
    return 1;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names valid, unique and not "__metadata__"; shapes valid; data present;
 * the whole file's size representable. */
static int check_specs(const char *shown, const cnn_tensor_spec *specs, int n_specs,
                       const float *const *data) {
    char name[ST_SHOW_MAX];
    const char **sorted;
    uint64_t total = 0;
    int i, d, rc = CNN_OK;
    for (i = 0; i < n_specs; i++) {
        uint64_t count = 1;
        if (!specs[i].name || !valid_utf8(specs[i].name) || !strcmp(specs[i].name, "__metadata__"))
            return st_fail(CNN_E_FORMAT, "%s: tensor #%d has no valid name", shown, i);
        if (specs[i].rank < 0 || specs[i].rank > CNN_MAX_RANK)
            return st_fail(CNN_E_SHAPE, "%s: tensor '%s' has rank %d, outside 0..%d", shown,
                           st_show(name, specs[i].name), specs[i].rank, CNN_MAX_RANK);
        for (d = 0; d < specs[i].rank; d++) {
            uint64_t dim = (uint64_t)specs[i].shape[d];
            if (specs[i].shape[d] < 0)
                return st_fail(CNN_E_SHAPE, "%s: tensor '%s' has a negative dimension", shown,
                               st_show(name, specs[i].name));
            if (dim && count > UINT64_MAX / dim)
                count = UINT64_MAX; /* caught just below */
            else
                count *= dim;
        }
        if (count > (UINT64_MAX / 4 - total) / 4 || count > SIZE_MAX / 4)
            return st_fail(CNN_E_LIMIT, "%s: tensor '%s' is too large", shown, st_show(name, specs[i].name));
        total += 4 * count;
        if (count && !data[i])
            return st_fail(CNN_E_MISSING, "%s: tensor '%s' has no data", shown, st_show(name, specs[i].name));
    }
    if (n_specs < 2) return CNN_OK;
    if (!(sorted = malloc((size_t)n_specs * sizeof *sorted)))
        return st_fail(CNN_E_NOMEM, "%s: out of memory", shown);
    for (i = 0; i < n_specs; i++) sorted[i] = specs[i].name;
    qsort(sorted, (size_t)n_specs, sizeof *sorted, compare_names);
    for (i = 1; i < n_specs && rc == CNN_OK; i++)
        if (!strcmp(sorted[i - 1], sorted[i]))
            rc = st_fail(CNN_E_FORMAT, "%s: duplicate tensor '%s'", shown, st_show(name, sorted[i]));
    free(sorted);
    return rc;
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t done = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return -1;
        p += done;
        n -= (size_t)done;
    }
    return 0;
}

/* Length, header, then the floats as little-endian bytes, a chunk at a time. */
static int write_contents(int fd, const struct text *header, const cnn_tensor_spec *specs, int n_specs,
                          const float *const *data) {
    unsigned char chunk[1 << 14];
    size_t used = 0;
    int i, b;
    for (b = 0; b < 8; b++) chunk[b] = (unsigned char)((uint64_t)header->len >> (8 * b));
    if (write_all(fd, chunk, 8) < 0 || write_all(fd, header->buf, header->len) < 0) return -1;
    for (i = 0; i < n_specs; i++) {
        uint64_t count = element_count(&specs[i]), k;
        for (k = 0; k < count; k++) {
            uint32_t bits;
            memcpy(&bits, &data[i][k], sizeof bits);
            for (b = 0; b < 4; b++) chunk[used++] = (unsigned char)(bits >> (8 * b));
            if (used == sizeof chunk) {
                if (write_all(fd, chunk, used) < 0) return -1;
                used = 0;
            }
        }
    }
    return write_all(fd, chunk, used);
}

static mode_t new_file_mode(const char *path) {
    struct stat sb;
    mode_t mask;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return sb.st_mode & 07777;
    mask = umask(022); /* there is no way to read the umask without setting it */
    umask(mask);
    return 0666 & ~mask;
}

/* Best effort: make the rename durable. */
static void sync_directory(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd;
    if (!slash) {
        fd = open(".", O_RDONLY);
    } else {
        size_t len = slash == path ? 1 : (size_t)(slash - path);
        if (!(dir = malloc(len + 1))) return;
        memcpy(dir, path, len);
        dir[len] = '\0';
        fd = open(dir, O_RDONLY);
        free(dir);
    }
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int write_file(const char *path, const char *shown, const struct text *header,
                      const cnn_tensor_spec *specs, int n_specs, const float *const *data) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 8);
    const char *step;
    int fd, saved;
    if (!tmp) return st_fail(CNN_E_NOMEM, "%s: out of memory", shown);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".XXXXXX", 8);
    fd = mkstemp(tmp);
    if (fd < 0) {
        saved = errno;
        free(tmp);
        return st_fail(CNN_E_OPEN, "%s: cannot create a temporary file beside it: %s", shown,
                       strerror(saved));
    }
    step = fchmod(fd, new_file_mode(path)) < 0                    ? "cannot set the mode of"
           : write_contents(fd, header, specs, n_specs, data) < 0 ? "cannot write"
           : fsync(fd) < 0                                        ? "cannot sync"
                                                                  : NULL;
    saved = errno;
    if (close(fd) < 0 && !step) {
        step = "cannot close";
        saved = errno;
    }
    if (!step && rename(tmp, path) < 0) {
        step = "cannot rename over";
        saved = errno;
    }
    if (step) {
        unlink(tmp);
        free(tmp);
        return st_fail(CNN_E_OPEN, "%s: %s the file: %s", shown, step, strerror(saved));
    }
    free(tmp);
    sync_directory(path);
    return CNN_OK;
}

int cnn_st_write(const char *path, const cnn_tensor_spec *specs, int n_specs, const float *const *data) {
    char shown[ST_SHOW_MAX];
    struct text header = {NULL, 0};
    int rc;
    if (!path || n_specs < 0 || (n_specs > 0 && (!specs || !data)))
        return st_fail(CNN_E_OPEN, "cnn_st_write: invalid arguments");
    st_show(shown, path);
    if ((rc = check_specs(shown, specs, n_specs, data)) != CNN_OK) return rc;
    build_header(&header, specs, n_specs); /* count */
    if (header.len > CNN_ST_MAX_HEADER)
        return st_fail(CNN_E_LIMIT, "%s: header of %zu bytes exceeds the limit of %u", shown, header.len,
                       CNN_ST_MAX_HEADER);
    if (!(header.buf = malloc(header.len)))
        return st_fail(CNN_E_NOMEM, "%s: out of memory for the header", shown);
    header.len = 0;
    build_header(&header, specs, n_specs); /* write */
    rc = write_file(path, shown, &header, specs, n_specs, data);
    free(header.buf);
    return rc;
}
