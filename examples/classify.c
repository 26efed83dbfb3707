/*
 * classify.c — run any cnncc-generated classifier on one input.
 *
 *   classify WEIGHTS.safetensors INPUT [LABELS]
 *
 * Loads the weights at run time (PREFIX_load_weights), reads INPUT as a
 * binary PGM/PPM (P5 grey or P6 RGB, samples scaled to [0, 1] by maxval) or,
 * if it does not start with P5/P6, as raw little-endian float32 in the
 * model's (H, W, C) order, and prints the five best classes with their
 * outputs (probabilities for a softmax model). LABELS is an optional text
 * file with one class name per line; without it classes are numbered.
 * The input must have exactly PREFIX_INPUT_SIZE values, else it fails.
 *
 * The model is chosen at compile time: MODEL is the C prefix, MODEL_UC the
 * same in capitals, and the generated header is force-included. For LeNet-5
 * (compiled without --weights, so its weights load at run time):
 *
 *   build/cnncc specs/lenet5.arch -o build/lenet5_rt.c --prefix lenet5
 *   cc -std=c99 -O2 -Wall -Wextra -Werror -Ibuild -Iruntime \
 *       -DMODEL=lenet5 -DMODEL_UC=LENET5 -include build/lenet5_rt.h \
 *       examples/classify.c build/lenet5_rt.c build/libcnnrt.a -lm -lpthread \
 *       -o build/classify_lenet5
 *   build/classify_lenet5 examples/weights/lenet5_fashion.safetensors \
 *       examples/fashion_test0_ankle_boot.pgm examples/fashion_mnist_labels.txt
 *
 * Models with several main outputs are not supported (their infer takes
 * one pointer per output). Exit status: 0 success, 1 bad input or weights,
 * 2 usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"

#if !defined(MODEL) || !defined(MODEL_UC)
#error "compile with -DMODEL=prefix -DMODEL_UC=PREFIX -include prefix.h (see the top of classify.c)"
#endif

#define CAT_(a, b)          a##b
#define CAT(a, b)           CAT_(a, b)
#define MODEL_FN(suffix)    CAT(MODEL, suffix)    /* MODEL_FN(_infer) is lenet5_infer */
#define MODEL_CONST(suffix) CAT(MODEL_UC, suffix) /* MODEL_CONST(_INPUT_SIZE) */
#define STR_(x)             #x
#define STR(x)              STR_(x)

#define INPUT_SIZE  ((size_t)MODEL_CONST(_INPUT_SIZE))
#define OUTPUT_SIZE ((size_t)MODEL_CONST(_OUTPUT_SIZE))
#define TOP_K       5
#define MAX_LABEL   128

static float input[MODEL_CONST(_INPUT_SIZE)] CNN_CACHE_ALIGNED;
static float output[MODEL_CONST(_OUTPUT_SIZE)] CNN_CACHE_ALIGNED;

static void fail(const char *path, const char *what, const char *detail) {
    fprintf(stderr, "classify: %s: %s%s%s\n", path, what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* The whole file in a malloc'd buffer; *size gets its length. */
static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) fail(path, "cannot open", strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *data = NULL;
    for (;;) {
        unsigned char *bigger = realloc(data, cap);
        if (!bigger) fail(path, "out of memory", NULL);
        data = bigger;
        len += fread(data + len, 1, cap - len, f);
        if (len < cap) break;
        cap *= 2;
    }
    if (ferror(f)) fail(path, "cannot read", strerror(errno));
    fclose(f);
    *size = len;
    return data;
}

static int is_space(int c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* A malloc'd copy of text (strdup is POSIX, not C99). */
static char *copy_string(const char *text) {
    char *copy = malloc(strlen(text) + 1);
    return copy ? strcpy(copy, text) : NULL;
}

/* Next PNM header number at *pos, skipping whitespace and # comments; -1 if none. */
static long pnm_number(const unsigned char *data, size_t size, size_t *pos) {
    for (;;) {
        while (*pos < size && is_space(data[*pos])) (*pos)++;
        if (*pos < size && data[*pos] == '#') {
            while (*pos < size && data[*pos] != '\n') (*pos)++;
            continue;
        }
        break;
    }
    long value = -1;
    while (*pos < size && data[*pos] >= '0' && data[*pos] <= '9') {
        value = (value < 0 ? 0 : value * 10) + (data[*pos] - '0');
        if (value > 1000000) return -1;
        (*pos)++;
    }
    return value;
}

static void read_pnm(const char *path, const unsigned char *data, size_t size) {
    size_t pos = 2;
    int channels = data[1] == '5' ? 1 : 3;
    long width = pnm_number(data, size, &pos);
    long height = pnm_number(data, size, &pos);
    long maxval = pnm_number(data, size, &pos);
    if (width <= 0 || height <= 0 || maxval <= 0 || maxval > 65535 || pos >= size)
        fail(path, "malformed PGM/PPM header", NULL);
    pos++; /* the single whitespace before the samples */
    size_t count = (size_t)width * (size_t)height * (size_t)channels;
    if (count != INPUT_SIZE) {
        fprintf(stderr,
                "classify: %s: the image is %ldx%ldx%d = %zu values; the model " STR(
                    MODEL) " takes %zu (" STR(MODEL_UC) "_INPUT_SIZE)\n",
                path, width, height, channels, count, INPUT_SIZE);
        exit(1);
    }
    size_t bytes = maxval > 255 ? 2 : 1;
    if (size - pos < count * bytes) fail(path, "image data is truncated", NULL);
    for (size_t i = 0; i < count; i++) {
        const unsigned char *s = data + pos + i * bytes;
        unsigned sample = bytes == 2 ? (unsigned)s[0] << 8 | s[1] : s[0];
        if (sample > (unsigned long)maxval) fail(path, "a sample exceeds maxval", NULL);
        input[i] = (float)sample / (float)maxval;
    }
}

static void read_raw_f32(const char *path, const unsigned char *data, size_t size) {
    if (size != INPUT_SIZE * 4) {
        fprintf(stderr,
                "classify: %s: not a P5/P6 image, and as raw float32 it has %zu bytes; "
                "the model takes %zu floats = %zu bytes\n",
                path, size, INPUT_SIZE, INPUT_SIZE * 4);
        exit(1);
    }
    for (size_t i = 0; i < INPUT_SIZE; i++) {
        const unsigned char *b = data + 4 * i;
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&input[i], &bits, sizeof bits);
    }
}

static void read_input(const char *path) {
    size_t size;
    unsigned char *data = read_file(path, &size);
    if (size >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6'))
        read_pnm(path, data, size);
    else
        read_raw_f32(path, data, size);
    free(data);
}

/* Class names, one per line; NULL entries print as numbers. */
static char **read_labels(const char *path) {
    char **names = calloc(OUTPUT_SIZE, sizeof *names);
    FILE *f = fopen(path, "r");
    if (!names) fail(path, "out of memory", NULL);
    if (!f) fail(path, "cannot open", strerror(errno));
    char line[MAX_LABEL];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) /* too long: keep the start, drop the rest */
            for (int c = getc(f); c != EOF && c != '\n'; c = getc(f))
                ;
        line[strcspn(line, "\r\n")] = 0;
        if (n < OUTPUT_SIZE && !(names[n] = copy_string(line))) fail(path, "out of memory", NULL);
        n++;
    }
    fclose(f);
    if (n != OUTPUT_SIZE)
        fprintf(stderr, "classify: warning: %s has %zu labels, the model %zu classes\n", path, n,
                OUTPUT_SIZE);
    return names;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr,
                "usage: %s WEIGHTS.safetensors INPUT.(pgm|ppm|f32) [LABELS.txt]\n"
                "model " STR(MODEL) ": %zu input values, %zu classes\n",
                argv[0], INPUT_SIZE, OUTPUT_SIZE);
        return 2;
    }
    int code = MODEL_FN(_load_weights)(argv[1]);
    if (code != 0) fail(argv[1], "cannot load weights", MODEL_FN(_strerror)(code));
    read_input(argv[2]);
    char **labels = argc == 4 ? read_labels(argv[3]) : NULL;

    MODEL_FN(_infer)(input, output);

    int best[TOP_K];
    int k = OUTPUT_SIZE < TOP_K ? (int)OUTPUT_SIZE : TOP_K;
    for (int i = 0; i < k; i++) {
        best[i] = -1;
        for (size_t c = 0; c < OUTPUT_SIZE; c++) {
            int taken = 0;
            for (int j = 0; j < i; j++) taken |= best[j] == (int)c;
            if (!taken && (best[i] < 0 || output[c] > output[best[i]])) best[i] = (int)c;
        }
        if (labels && labels[best[i]])
            printf("%d. %-24s %.6f\n", i + 1, labels[best[i]], output[best[i]]);
        else
            printf("%d. class %-18d %.6f\n", i + 1, best[i], output[best[i]]);
    }
    if (labels) {
        for (size_t c = 0; c < OUTPUT_SIZE; c++) free(labels[c]);
        free(labels);
    }
    return 0;
}
