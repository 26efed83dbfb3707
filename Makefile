# cnncc — build, test, demo, benchmark.
#
#   make            build cnncc and libcnnrt.a
#   make check      build and run every test (unit, golden, models, sanitizers)
#   make demo       LeNet-5 on Fashion-MNIST, end to end
#   make bench      speed and memory of the six generated models
#   make check-full the heavy tests (VGG16 with embedded weights, ...)
#   make fuzz       run the fuzzers for a bounded time
#   make install    PREFIX=/usr/local DESTDIR=

CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -std=c99 -Wall -Wextra -Werror
ALLCFLAGS = $(WARN) -D_POSIX_C_SOURCE=200809L $(CFLAGS)
LDLIBS  := -lm -lpthread
B       ?= build
PREFIX  ?= /usr/local
VERSION := 0.1.0
MODELS  := lenet5 alexnet vgg16 googlenet resnet50 mobilenet

# Debian packages the build and tests need.
DEB_PKGS := flex bison check pkg-config valgrind

COMPILER_SRC := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
COMPILER_OBJ := $(COMPILER_SRC:compiler/%.c=$(B)/compiler/%.o) $(B)/compiler/lexer.o $(B)/compiler/parser.o
RUNTIME_SRC  := $(wildcard runtime/*.c)
RUNTIME_OBJ  := $(RUNTIME_SRC:runtime/%.c=$(B)/runtime/%.o)
UNIT_SRC     := $(filter-out tests/unit/test_fashion.c tests/unit/test_reload.c,$(wildcard tests/unit/test_*.c))
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_SUPPORT := $(wildcard tests/support/*.c)

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt)

.SECONDARY:
.PHONY: all deps check check-unit check-cli check-golden check-models check-tools check-sanitize check-valgrind check-reference check-fashion check-reload check-install check-examples check-full demo bench fuzz install clean

all: $(B)/cnncc $(B)/libcnnrt.a $(MODELS:%=generated/%.c)

# Install missing Debian packages when root; otherwise say the exact command.
deps:
	@missing=""; \
	for p in $(DEB_PKGS) $(EXTRA_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(B)/.deps:
	@$(MAKE) --no-print-directory deps
	@mkdir -p $(B) && touch $@

# ---- the compiler ----------------------------------------------------------
$(B)/compiler/parser.c $(B)/compiler/parser.h: compiler/parser.y | $(B)/.deps
	@mkdir -p $(B)/compiler
	bison -Wall -Werror --defines=$(B)/compiler/parser.h -o $(B)/compiler/parser.c $<

$(B)/compiler/lexer.c $(B)/compiler/lexer.h: compiler/lexer.l | $(B)/.deps
	@mkdir -p $(B)/compiler
	flex --header-file=$(B)/compiler/lexer.h -o $(B)/compiler/lexer.c $<

$(B)/compiler/lexer.o: $(B)/compiler/lexer.c $(B)/compiler/parser.h
	$(CC) $(ALLCFLAGS) -Wno-unused-function -Wno-sign-compare -Icompiler -I$(B)/compiler -c $< -o $@

$(B)/compiler/parser.o: $(B)/compiler/parser.c $(B)/compiler/lexer.h
	$(CC) $(ALLCFLAGS) -Icompiler -I$(B)/compiler -c $< -o $@

$(B)/compiler/%.o: compiler/%.c compiler/*.h runtime/cnnrt.h $(B)/compiler/parser.h $(B)/compiler/lexer.h
	@mkdir -p $(B)/compiler
	$(CC) $(ALLCFLAGS) -DCNNCC_VERSION='"$(VERSION)"' -Icompiler -I$(B)/compiler -Iruntime -c $< -o $@

$(B)/libcnncc.a: $(COMPILER_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/cnncc: $(B)/compiler/main.o $(B)/libcnncc.a $(B)/libcnnrt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# ---- the runtime -----------------------------------------------------------
$(B)/runtime/%.o: runtime/%.c runtime/*.h
	@mkdir -p $(B)/runtime
	$(CC) $(ALLCFLAGS) -O3 -Iruntime -c $< -o $@

$(B)/libcnnrt.a: $(RUNTIME_OBJ)
	rm -f $@ && ar rcs $@ $^

# ---- generated models -------------------------------------------------------
GEN      := $(B)/gen
GEN_CFLAGS = -std=c99 -Wall -Wextra -pedantic -Werror -D_POSIX_C_SOURCE=200809L $(CFLAGS)
upper     = $(shell echo $(1) | tr a-z A-Z)

# generated/: the six models' C, rebuilt by make, never edited by hand.
generated/%.c generated/%.h: specs/%.arch $(B)/cnncc
	$(B)/cnncc $< -o generated/$*.c

$(GEN)/%.c $(GEN)/%.h: specs/%.arch $(B)/cnncc
	@mkdir -p $(GEN)
	$(B)/cnncc $< -o $(GEN)/$*.c

# A runner per model: tests/models/run_model.c around the generated code.
$(B)/models/run_%: tests/models/run_model.c $(GEN)/%.c $(B)/libcnnrt.a
	@mkdir -p $(B)/models
	$(CC) $(GEN_CFLAGS) -Iruntime -I$(GEN) -include $(GEN)/$*.h -DMODEL=$* -DMODEL_UPPER=$(call upper,$*) \
	  -o $@ tests/models/run_model.c $(GEN)/$*.c $(B)/libcnnrt.a $(LDLIBS)

# GoogLeNet with its auxiliary heads kept: three outputs.
$(GEN)/googlenet_aux.c: specs/googlenet.arch $(B)/cnncc
	@mkdir -p $(GEN)
	$(B)/cnncc $< -o $@ --keep-aux --prefix googlenet_aux

$(B)/models/run_googlenet_aux: tests/models/run_model.c $(GEN)/googlenet_aux.c $(B)/libcnnrt.a
	@mkdir -p $(B)/models
	$(CC) $(GEN_CFLAGS) -Iruntime -I$(GEN) -include $(GEN)/googlenet_aux.h -DMODEL=googlenet_aux \
	  -DMODEL_UPPER=GOOGLENET_AUX -DNOUT=3 -o $@ tests/models/run_model.c $(GEN)/googlenet_aux.c $(B)/libcnnrt.a $(LDLIBS)

# The independent reference implementation (tests only).
REF_SUPPORT := $(filter-out tests/reference/ref.c tests/reference/random_weights.c,$(wildcard tests/reference/*.c))
$(B)/ref/ref_infer: tests/reference/ref.c $(REF_SUPPORT) $(wildcard tests/reference/*.h) $(B)/libcnnrt.a
	@mkdir -p $(B)/ref
	$(CC) $(ALLCFLAGS) -O2 -Iruntime -Itests/reference -o $@ $< $(REF_SUPPORT) $(B)/libcnnrt.a $(LDLIBS)

$(B)/ref/%: tests/reference/%.c $(REF_SUPPORT) $(wildcard tests/reference/*.h) $(B)/libcnnrt.a
	@mkdir -p $(B)/ref
	$(CC) $(ALLCFLAGS) -O2 -Iruntime -Itests/reference -o $@ $< $(REF_SUPPORT) $(B)/libcnnrt.a $(LDLIBS)

$(B)/compare: tests/models/compare.c
	$(CC) $(ALLCFLAGS) -o $@ $< -lm

MODEL_TOOLS = $(B)/cnncc $(B)/compare $(B)/ref/ref_infer $(B)/ref/random_weights

# ---- tests -----------------------------------------------------------------
$(B)/tests/%: tests/unit/%.c $(TEST_SUPPORT) $(B)/libcnncc.a $(B)/libcnnrt.a | $(B)/.deps
	@mkdir -p $(B)/tests
	$(CC) $(ALLCFLAGS) $(CHECK_CFLAGS) -Icompiler -I$(B)/compiler -Iruntime -Itests/support \
	  -DSRCDIR='"$(CURDIR)"' -DBUILDDIR='"$(abspath $(B))"' \
	  -o $@ $< $(TEST_SUPPORT) $(B)/libcnncc.a $(B)/libcnnrt.a $(CHECK_LIBS) $(LDLIBS)

check-unit: $(UNIT_BIN) $(B)/cnncc
	@fail=0; for t in $(UNIT_BIN); do CK_VERBOSITY=normal $$t || fail=1; done; exit $$fail

check-cli: $(B)/cnncc
	sh tests/cli.sh $(B)/cnncc
	@mkdir -p $(B)/fresh; for m in $(MODELS); do $(B)/cnncc specs/$$m.arch -o $(B)/fresh/$$m.c && \
	  cmp -s $(B)/fresh/$$m.c generated/$$m.c && cmp -s $(B)/fresh/$$m.h generated/$$m.h || \
	  { echo "generated/$$m.c is stale: run make"; exit 1; }; done; echo "generated/ matches cnncc's output"

# Every model generated, compiled warning-free, run, and compared with the reference.
CHECK_MODELS ?= lenet5 alexnet googlenet resnet50 mobilenet vgg16
check-models: $(MODEL_TOOLS) $(CHECK_MODELS:%=$(B)/models/run_%) $(B)/models/run_googlenet_aux
	CC="$(CC)" CFLAGS="$(CFLAGS)" sh tests/models.sh $(B) $(CHECK_MODELS)

# The generated LeNet-5 against PyTorch's outputs (fixtures made by tools/make_golden_lenet5.py).
check-golden: $(B)/models/run_lenet5 $(B)/compare
	$(B)/models/run_lenet5 tests/fixtures/lenet5_golden.safetensors tests/fixtures/lenet5_golden_input.f32 $(B)/golden_lenet5_
	$(B)/compare $(B)/golden_lenet5_0.f32 tests/fixtures/lenet5_golden_output.f32 1e-5

# Fashion-MNIST LeNet-5: the first 100 test images classified as PyTorch did.
$(B)/demo/lenet5.c: specs/lenet5.arch examples/weights/lenet5_fashion.safetensors $(B)/cnncc
	@mkdir -p $(B)/demo
	$(B)/cnncc $< -o $@ --weights examples/weights/lenet5_fashion.safetensors

$(B)/tests/test_fashion: tests/unit/test_fashion.c $(B)/demo/lenet5.c $(B)/libcnnrt.a
	@mkdir -p $(B)/tests
	$(CC) $(ALLCFLAGS) $(CHECK_CFLAGS) -I$(B)/demo -Iruntime -Wa,-I$(B)/demo -DSRCDIR='"$(CURDIR)"' 	  -o $@ $< $(B)/demo/lenet5.c $(B)/libcnnrt.a $(CHECK_LIBS) $(LDLIBS)

# The converters, when PyTorch and h5py are there (development tools).
check-tools: $(B)/cnncc
	@if /usr/bin/python3 -c "import torch, h5py" 2>/dev/null; then \
	  CNNCC=$(B)/cnncc /usr/bin/python3 tools/test_converters.py; \
	else echo "check-tools: skipped (python3-torch or python3-h5py not installed)"; fi

# The tests again under ASan and UBSan: compiler, runtime and generated code.
SAN := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
check-sanitize:
	@$(MAKE) --no-print-directory B=$(B)/san CFLAGS="$(SAN)" check-unit check-cli check-golden check-reload \
	  check-models CHECK_MODELS="lenet5 mobilenet resnet50"

# One generated model under valgrind (make check-full runs all six).
VALGRIND_MODELS ?= lenet5
check-valgrind: $(VALGRIND_MODELS:%=$(B)/models/run_%) $(MODEL_TOOLS)
	@command -v valgrind >/dev/null || { echo "check-valgrind: valgrind not installed"; exit 1; }
	sh tests/valgrind.sh $(B) $(VALGRIND_MODELS)

# The reference checked against hand-computed cases before it judges anything.
check-reference: $(MODEL_TOOLS)
	sh tests/reference/selftest.sh $(B)/cnncc $(B)/ref/ref_infer $(B)/ref/random_weights

# examples/classify.c on the sample image with the trained weights, loaded at run time.
$(B)/classify_lenet5: examples/classify.c $(GEN)/lenet5.c $(B)/libcnnrt.a
	$(CC) $(GEN_CFLAGS) -I$(GEN) -Iruntime -DMODEL=lenet5 -DMODEL_UC=LENET5 -include $(GEN)/lenet5.h \
	  -o $@ $< $(GEN)/lenet5.c $(B)/libcnnrt.a $(LDLIBS)

check-examples: $(B)/classify_lenet5
	$(B)/classify_lenet5 examples/weights/lenet5_fashion.safetensors examples/fashion_test0_ankle_boot.pgm \
	  examples/fashion_mnist_labels.txt | tee $(B)/classify.out
	grep -q "1\..*Ankle boot" $(B)/classify.out
	! $(B)/classify_lenet5 examples/weights/lenet5_fashion.safetensors README.md 2>/dev/null

# m_load_weights is all or nothing (with the generated LeNet-5).
$(B)/tests/test_reload: tests/unit/test_reload.c $(GEN)/lenet5.c $(B)/libcnnrt.a $(B)/cnncc
	@mkdir -p $(B)/tests
	$(B)/cnncc --init-weights specs/lenet5.arch -o $(B)/reload_init.safetensors
	$(CC) $(ALLCFLAGS) $(CHECK_CFLAGS) -I$(GEN) -Iruntime -DSRCDIR='"$(CURDIR)"' -DBUILDDIR='"$(abspath $(B))"' \
	  -o $@ $< $(GEN)/lenet5.c $(B)/libcnnrt.a $(CHECK_LIBS) $(LDLIBS)

check-reload: $(B)/tests/test_reload
	cd $(B) && CK_VERBOSITY=normal $(abspath $(B))/tests/test_reload

check-fashion: $(B)/tests/test_fashion
	CK_VERBOSITY=normal $(B)/tests/test_fashion

check: check-unit check-cli check-golden check-examples check-install check-reload check-fashion check-reference check-models check-tools check-valgrind check-sanitize
	@echo "make check: all tests passed"

# Heavier: every model under valgrind and with embedded weights, VGG16 included.
check-full: check
	@$(MAKE) --no-print-directory VALGRIND_MODELS="$(MODELS)" check-valgrind
	sh tests/embedded.sh $(B) $(MODELS)

# ---- the demo ---------------------------------------------------------------
$(B)/demo/fashion_mnist: examples/fashion_mnist.c $(B)/demo/lenet5.c $(B)/libcnnrt.a
	$(CC) $(GEN_CFLAGS) -O2 -I$(B)/demo -Iruntime -Wa,-I$(B)/demo -o $@ $< $(B)/demo/lenet5.c $(B)/libcnnrt.a -lz $(LDLIBS)

demo:
	@$(MAKE) --no-print-directory EXTRA_PKGS="zlib1g-dev dataset-fashion-mnist" deps
	@$(MAKE) --no-print-directory all $(B)/demo/fashion_mnist
	@echo; echo "== cnncc --summary specs/lenet5.arch"; $(B)/cnncc --summary specs/lenet5.arch
	@echo; echo "== cnncc specs/lenet5.arch -o $(B)/demo/lenet5.c --weights examples/weights/lenet5_fashion.safetensors"
	@echo "   $$(wc -l < $(B)/demo/lenet5.c) lines of C, $$(stat -c %s $(B)/demo/lenet5.weights) bytes of packed weights"
	@echo; echo "== $(B)/demo/fashion_mnist: the 10,000 Fashion-MNIST test images"; $(B)/demo/fashion_mnist

# ---- benchmark ----------------------------------------------------------------
THREADS ?= 1
bench: all $(B)/compare $(B)/ref/random_weights $(MODELS:%=$(B)/models/run_%) $(B)/bench/peak
	sh bench/run.sh $(B) $(THREADS) $(MODELS)

$(B)/bench/peak: bench/peak.c
	@mkdir -p $(B)/bench
	$(CC) -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -o $@ $< $(LDLIBS)

# ---- fuzzing (clang's libFuzzer) ---------------------------------------------------
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -g -O1 -std=c99 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -D_POSIX_C_SOURCE=200809L -Iruntime -Icompiler -I$(B)/compiler
fuzz: $(B)/compiler/parser.h $(B)/compiler/lexer.h
	@mkdir -p $(B)/fuzz
	clang $(FUZZ_FLAGS) -o $(B)/fuzz/fuzz_safetensors tests/fuzz/fuzz_safetensors.c runtime/safetensors.c runtime/safetensors_write.c runtime/json_min.c
	clang $(FUZZ_FLAGS) -o $(B)/fuzz/fuzz_arch tests/fuzz/fuzz_arch.c $(COMPILER_SRC) $(B)/compiler/lexer.c $(B)/compiler/parser.c $(RUNTIME_SRC) -lm -lpthread
	@mkdir -p $(B)/fuzz/corpus_st $(B)/fuzz/corpus_arch
	$(B)/fuzz/fuzz_safetensors -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -dict=tests/fuzz/safetensors.dict \
	  -artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus_st tests/fuzz/corpus_safetensors
	$(B)/fuzz/fuzz_arch -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	  -artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus_arch tests/fuzz/corpus_arch

# ---- install ------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(B)/cnncc $(DESTDIR)$(PREFIX)/bin/cnncc
	install -m 644 $(B)/libcnnrt.a $(DESTDIR)$(PREFIX)/lib/libcnnrt.a
	install -m 644 runtime/cnnrt.h $(DESTDIR)$(PREFIX)/include/cnnrt.h
	install -m 644 cnncc.1 $(DESTDIR)$(PREFIX)/share/man/man1/cnncc.1
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' cnnrt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cnnrt.pc

# make install into a staging directory, then build and run a generated model against it.
check-install: all $(B)/compare
	rm -rf $(B)/inst
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(B))/inst PREFIX=/usr >/dev/null
	test -f $(B)/inst/usr/share/man/man1/cnncc.1
	$(B)/inst/usr/bin/cnncc specs/lenet5.arch -o $(B)/inst/lenet5.c
	PKG_CONFIG_SYSROOT_DIR=$(abspath $(B))/inst PKG_CONFIG_LIBDIR=$(abspath $(B))/inst/usr/lib/pkgconfig sh -c \
	  '$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -I$(B)/inst -include $(B)/inst/lenet5.h -DMODEL=lenet5 -DMODEL_UPPER=LENET5 \
	     tests/models/run_model.c $(B)/inst/lenet5.c $$(pkg-config --cflags --libs cnnrt) -o $(B)/inst/run_lenet5'
	$(B)/inst/run_lenet5 tests/fixtures/lenet5_golden.safetensors tests/fixtures/lenet5_golden_input.f32 $(B)/inst/out
	$(B)/compare $(B)/inst/out0.f32 tests/fixtures/lenet5_golden_output.f32 1e-5

clean:
	rm -rf $(B)
