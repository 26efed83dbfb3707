/*
 * test_fashion.c — the generated LeNet-5 answers as PyTorch did.
 *
 * build/lenet5.c is specs/lenet5.arch compiled with the trained weights
 * embedded (examples/weights/lenet5_fashion.safetensors). The fixtures hold
 * the first 100 Fashion-MNIST test images and what PyTorch computed for them
 * when tools/train_lenet5.py trained the weights (predicted classes and
 * probabilities), so this needs neither the dataset package nor PyTorch.
 *
 * Build (not the generic unit-test rule: it needs the generated model):
 *   build/cnncc specs/lenet5.arch -o build/lenet5.c \
 *       --weights examples/weights/lenet5_fashion.safetensors
 *   cc -std=c99 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L $(pkg-config --cflags check) \
 *       -Ibuild -Iruntime -DSRCDIR='"'$PWD'"' tests/unit/test_fashion.c build/lenet5.c \
 *       build/libcnnrt.a $(pkg-config --libs check) -lm -lpthread -o build/tests/test_fashion
 *
 * Built without the generated header on the include path (the generic
 * unit-test rule), it compiles to a program that says SKIP and exits 0, so
 * it never breaks `make check` before the Makefile rule exists.
 */
#if defined(__has_include)
#if !__has_include("lenet5.h")
#define NO_GENERATED_MODEL 1
#endif
#endif

#ifdef NO_GENERATED_MODEL
#include <stdio.h>
int main(void) {
    puts("test_fashion: SKIP: lenet5.h is not on the include path; build with the rule "
         "at the top of tests/unit/test_fashion.c");
    return 0;
}
#else

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lenet5.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif
#define FIXTURE(name) SRCDIR "/tests/fixtures/" name

#define IMAGES         100
#define SIDE           28
#define PADDED         32
#define CLASSES        10
/* Generated code may sum in another order than PyTorch (and use FMA or a
 * vectorized tanh); a layout bug moves probabilities by far more than this. */
#define PROB_TOLERANCE 1e-5f
/* Below this top-2 gap in PyTorch, either of the two classes is accepted. */
#define TIE_MARGIN     1e-4f

static unsigned char images[IMAGES][SIDE * SIDE];
static unsigned char torch_pred[IMAGES];
static float torch_probs[IMAGES][CLASSES];

static void read_fixture(const char *path, void *data, size_t size) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t got = fread(data, 1, size, f);
    int extra = fgetc(f);
    fclose(f);
    ck_assert_msg(got == size && extra == EOF, "%s: expected exactly %zu bytes", path, size);
}

/* Little-endian float32 from bytes, whatever the host's byte order. */
static void load_probs(void) {
    static unsigned char raw[sizeof torch_probs];
    read_fixture(FIXTURE("fashion_first100_probs.f32"), raw, sizeof raw);
    for (size_t i = 0; i < IMAGES * CLASSES; i++) {
        const unsigned char *b = raw + 4 * i;
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&torch_probs[i / CLASSES][i % CLASSES], &bits, sizeof bits);
    }
}

/* Zero-pad to 32x32 and scale to [0, 1], as tools/fashion_mnist.py does. */
static void to_input(float *input, const unsigned char *image) {
    int border = (PADDED - SIDE) / 2;
    memset(input, 0, sizeof(float) * LENET5_INPUT_SIZE);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            input[(y + border) * PADDED + x + border] = (float)image[y * SIDE + x] / 255.0f;
}

static int argmax(const float *v, int n, int skip) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (i != skip && (best < 0 || v[i] > v[best])) best = i;
    return best;
}

START_TEST(test_sizes) {
    ck_assert_int_eq(LENET5_INPUT_SIZE, PADDED * PADDED);
    ck_assert_int_eq(LENET5_OUTPUT_SIZE, CLASSES);
}
END_TEST

START_TEST(test_first100_match_pytorch) {
    read_fixture(FIXTURE("fashion_first100.u8"), images, sizeof images);
    read_fixture(FIXTURE("fashion_first100_pred.u8"), torch_pred, sizeof torch_pred);
    load_probs();

    static float input[LENET5_INPUT_SIZE];
    float probs[LENET5_OUTPUT_SIZE];
    float worst = 0;
    int worst_image = 0, wrong = 0, first_wrong = -1;
    for (int i = 0; i < IMAGES; i++) {
        to_input(input, images[i]);
        lenet5_infer(input, probs);
        for (int c = 0; c < CLASSES; c++)
            if (fabsf(probs[c] - torch_probs[i][c]) > worst) {
                worst = fabsf(probs[c] - torch_probs[i][c]);
                worst_image = i;
            }
        int pred = argmax(probs, CLASSES, -1);
        int runner_up = argmax(torch_probs[i], CLASSES, torch_pred[i]);
        int near_tie = torch_probs[i][torch_pred[i]] - torch_probs[i][runner_up] < TIE_MARGIN;
        if (pred != torch_pred[i] && !(near_tie && pred == runner_up)) {
            wrong++;
            if (first_wrong < 0) first_wrong = i;
        }
    }
    ck_assert_msg(wrong == 0, "%d of %d predictions differ from PyTorch's (first: image %d)", wrong, IMAGES,
                  first_wrong);
    ck_assert_msg(worst <= PROB_TOLERANCE, "probabilities differ from PyTorch's by up to %g (image %d)",
                  (double)worst, worst_image);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("fashion");
    TCase *tc = tcase_create("lenet5_vs_pytorch");
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_first100_match_pytorch);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_ENV);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
#endif /* NO_GENERATED_MODEL */
