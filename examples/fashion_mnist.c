/*
 * fashion_mnist.c — `make demo`: LeNet-5 classifies the Fashion-MNIST test set.
 *
 * The model is specs/lenet5.arch compiled with its trained weights embedded
 * (tools/train_lenet5.py made them), so there is nothing to load:
 *
 *   build/cnncc specs/lenet5.arch -o build/lenet5.c \
 *       --weights examples/weights/lenet5_fashion.safetensors
 *   cc -std=c99 -O2 -Wall -Wextra -Werror -Ibuild -Iruntime \
 *       examples/fashion_mnist.c build/lenet5.c build/libcnnrt.a -lz -lm -lpthread \
 *       -o build/fashion_mnist
 *   build/fashion_mnist [DATASET_DIR]     (default /usr/share/datasets/fashion-mnist)
 *
 * The dataset package ships gzipped IDX files; zlib's gzread reads them, and
 * reads uncompressed files unchanged, so either form works. Each 28x28 image
 * is zero-padded to 32x32 and scaled to [0, 1] (pixel / 255), exactly as the
 * training script did. Prints top-1/top-5 accuracy, the confusion matrix,
 * five images as ASCII art with their top-5 classes, and images per second.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cnnrt.h"
#include "lenet5.h"

#define DEFAULT_DIR  "/usr/share/datasets/fashion-mnist"
#define IMAGE_SIDE   28
#define IMAGE_PIXELS (IMAGE_SIDE * IMAGE_SIDE)
#define INPUT_SIDE   32
#define BORDER       ((INPUT_SIDE - IMAGE_SIDE) / 2)
#define CLASSES      10
#define TOP_K        5

#if LENET5_INPUT_SIZE != INPUT_SIDE * INPUT_SIDE || LENET5_OUTPUT_SIZE != CLASSES
#error "lenet5.h does not describe a (32, 32, 1) -> 10 model"
#endif

static const char *const class_names[CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

static void die(const char *fmt, const char *arg, const char *detail) {
    fprintf(stderr, "fashion_mnist: ");
    fprintf(stderr, fmt, arg);
    if (detail) fprintf(stderr, ": %s", detail);
    fputc('\n', stderr);
    exit(1);
}

/* The whole file, gunzipped if it is gzipped; *size gets its length. */
static unsigned char *read_gz(const char *path, size_t *size) {
    errno = 0;
    gzFile file = gzopen(path, "rb");
    if (!file) die("cannot open %s", path, errno ? strerror(errno) : "out of memory");
    size_t cap = 1 << 20, len = 0;
    unsigned char *data = malloc(cap);
    for (;;) {
        if (!data) die("%s: out of memory", path, NULL);
        int got = gzread(file, data + len, (unsigned)(cap - len));
        if (got < 0) {
            int code;
            die("cannot read %s", path, gzerror(file, &code));
        }
        len += (size_t)got;
        if (got == 0) break;
        if (len == cap) {
            unsigned char *bigger = realloc(data, cap *= 2);
            if (!bigger) free(data);
            data = bigger;
        }
    }
    gzclose(file);
    *size = len;
    return data;
}

static unsigned long be32(const unsigned char *p) {
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

/*
 * Open DIR/NAME.gz, or DIR/NAME if that is missing, and check it is an IDX
 * file of unsigned bytes with `rank` dimensions; return it, with the item
 * count in *count and a pointer to the first item in *items.
 */
static unsigned char *load_idx(const char *dir, const char *name, int rank, unsigned long *count,
                               const unsigned char **items) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    FILE *probe = fopen(path, "rb");
    if (probe)
        fclose(probe);
    else
        snprintf(path, sizeof path, "%s/%s", dir, name);

    size_t size;
    unsigned char *data = read_gz(path, &size);
    size_t header = 4 + 4 * (size_t)rank;
    if (size < header || be32(data) != 0x800ul + (unsigned long)rank)
        die("%s is not an IDX file of unsigned bytes of the expected rank", path, NULL);
    *count = be32(data + 4);
    unsigned long item = 1;
    for (int i = 1; i < rank; i++)
        if (be32(data + 4 + 4 * i) != IMAGE_SIDE)
            die("%s: images are not 28x28", path, NULL);
        else
            item *= IMAGE_SIDE;
    if ((size - header) / item < *count) die("%s is truncated", path, NULL);
    *items = data + header;
    return data;
}

/* Zero-pad a 28x28 image to 32x32 and scale to [0, 1], as in training. */
static void to_input(float *input, const unsigned char *image) {
    memset(input, 0, sizeof(float) * LENET5_INPUT_SIZE);
    for (int y = 0; y < IMAGE_SIDE; y++)
        for (int x = 0; x < IMAGE_SIDE; x++)
            input[(y + BORDER) * INPUT_SIDE + x + BORDER] = (float)image[y * IMAGE_SIDE + x] / 255.0f;
}

/* The indices of the k largest probabilities, largest first (ties: lower index). */
static void top_k(int *best, const float *probs, int k) {
    for (int i = 0; i < k; i++) {
        int pick = -1;
        for (int c = 0; c < CLASSES; c++) {
            int taken = 0;
            for (int j = 0; j < i; j++) taken |= best[j] == c;
            if (!taken && (pick < 0 || probs[c] > probs[pick])) pick = c;
        }
        best[i] = pick;
    }
}

static double seconds_of(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void print_confusion(const long confusion[CLASSES][CLASSES]) {
    printf("\nConfusion matrix (rows: true class, columns: predicted class)\n%-16s", "");
    for (int c = 0; c < CLASSES; c++) printf("%6d", c);
    printf("  recall\n");
    for (int t = 0; t < CLASSES; t++) {
        long row = 0;
        printf("%d %-14s", t, class_names[t]);
        for (int c = 0; c < CLASSES; c++) {
            printf("%6ld", confusion[t][c]);
            row += confusion[t][c];
        }
        printf("  %5.1f%%\n", row ? 100.0 * (double)confusion[t][t] / (double)row : 0.0);
    }
}

/* 28x28 as 14 lines of 28 characters (two pixel rows per line keeps the aspect). */
static void print_sample(const unsigned char *image, int index, int label, const float *probs) {
    static const char ramp[] = " .:-=+*#%@";
    int best[TOP_K];
    top_k(best, probs, TOP_K);
    printf("\nTest image %d, true class: %s\n", index, class_names[label]);
    for (int line = 0; line < IMAGE_SIDE / 2; line++) {
        putchar('|');
        for (int x = 0; x < IMAGE_SIDE; x++) {
            int level = image[2 * line * IMAGE_SIDE + x] + image[(2 * line + 1) * IMAGE_SIDE + x];
            putchar(ramp[level * (int)(sizeof ramp - 2) / 510]);
        }
        putchar('|');
        if (line >= 1 && line <= TOP_K) {
            int c = best[line - 1];
            printf("  %d. %-12s %6.2f%%%s", line, class_names[c], 100.0 * probs[c],
                   c == label ? "  <- true" : "");
        }
        putchar('\n');
    }
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [DATASET_DIR]   (default %s)\n", argv[0], DEFAULT_DIR);
        return 2;
    }
    const char *dir = argc == 2 ? argv[1] : DEFAULT_DIR;
    unsigned long n_images, n_labels;
    const unsigned char *images, *labels;
    unsigned char *image_file = load_idx(dir, "t10k-images-idx3-ubyte", 3, &n_images, &images);
    unsigned char *label_file = load_idx(dir, "t10k-labels-idx1-ubyte", 1, &n_labels, &labels);
    if (n_images != n_labels || n_images == 0)
        die("%s: image and label counts differ or are zero", dir, NULL);

    float *probs = malloc(sizeof(float) * CLASSES * n_images);
    if (!probs) die("%s", "out of memory", NULL);
    static float input[LENET5_INPUT_SIZE] CNN_CACHE_ALIGNED;
    /* Wall time of the inference calls only (the monotonic clock is read
     * without a system call); CPU time of the whole loop, which a busy
     * machine inflates less (read around each call, its system calls cost
     * as much as the inference). */
    double seconds = 0, cpu_start = seconds_of(CLOCK_PROCESS_CPUTIME_ID);
    for (unsigned long i = 0; i < n_images; i++) {
        if (labels[i] >= CLASSES) die("%s: label out of range", dir, NULL);
        to_input(input, images + i * IMAGE_PIXELS);
        double start = seconds_of(CLOCK_MONOTONIC);
        lenet5_infer(input, probs + i * CLASSES);
        seconds += seconds_of(CLOCK_MONOTONIC) - start;
    }
    double cpu_seconds = seconds_of(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;

    long confusion[CLASSES][CLASSES] = {{0}}, top1 = 0, top5 = 0;
    long misclassified = -1;
    for (unsigned long i = 0; i < n_images; i++) {
        int best[TOP_K];
        top_k(best, probs + i * CLASSES, TOP_K);
        confusion[labels[i]][best[0]]++;
        top1 += best[0] == labels[i];
        for (int k = 0; k < TOP_K; k++) top5 += best[k] == labels[i];
        if (best[0] != labels[i] && misclassified < 0) misclassified = (long)i;
    }

    printf("LeNet-5 on the Fashion-MNIST test set (%lu images, %s)\n", n_images, dir);
    printf("top-1 accuracy: %6.2f%% (%ld/%lu)\n", 100.0 * (double)top1 / (double)n_images, top1, n_images);
    printf("top-5 accuracy: %6.2f%% (%ld/%lu)\n", 100.0 * (double)top5 / (double)n_images, top5, n_images);
    print_confusion((const long(*)[CLASSES])confusion);

    /* Four images in order and the first mistake, so one wrong answer is shown. */
    unsigned long samples[5] = {0, 1, 2, 3, 4};
    if (misclassified > 4) samples[4] = (unsigned long)misclassified;
    for (int s = 0; s < 5 && samples[s] < n_images; s++)
        print_sample(images + samples[s] * IMAGE_PIXELS, (int)samples[s], labels[samples[s]],
                     probs + samples[s] * CLASSES);

    printf("\n%lu images in %.3f s of inference: %.0f images/s (%.1f us per image; "
           "%.1f us of CPU time per image, input conversion included)\n",
           n_images, seconds, seconds > 0 ? (double)n_images / seconds : 0.0,
           1e6 * seconds / (double)n_images, 1e6 * cpu_seconds / (double)n_images);
    free(probs);
    free(image_file);
    free(label_file);
    return 0;
}
