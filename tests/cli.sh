#!/bin/sh
# tests/cli.sh — the command line of cnncc (SPEC §1), end to end.
#
#   sh tests/cli.sh build/cnncc        (run from the repository root)
#
# One line per check ("ok", "FAIL" or "skip"), then "N passed, M failed";
# the exit status is non-zero if anything failed.  Expected values come from
# the SPEC, tests/bad/*.arch's own "# expect-error:" lines, the checked-in
# summaries and /work/shared/MODELS.md, never from a previous run.

CNNCC=${1:?usage: tests/cli.sh path/to/cnncc}
case $CNNCC in /*) ;; *) CNNCC=$PWD/$CNNCC ;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2

T=$(mktemp -d "${TMPDIR:-/tmp}/cnncc-cli.XXXXXX") || exit 2
BG_PID=
cleanup() {
    [ -n "$BG_PID" ] && kill "$BG_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP

passed=0
failed=0
ok()   { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { echo "skip $*"; }
# check NAME COMMAND...: ok if the command succeeds
check() {
    name=$1; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

# Run cnncc; status in $rc, outputs in $T/out and $T/err.
run() {
    "$CNNCC" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}

no_temp_files() { ! ls -a "$1" | grep -q '\.tmp'; }

# ---------------------------------------------------------------------------
# tests/bad: exit 1 and every "# expect-error: LINE:COL: SUBSTRING" reported
# as "FILE:LINE:COL: error: ..." containing SUBSTRING (tests/bad/README.md).
for f in tests/bad/*.arch; do
    run --check "$f"
    if [ "$rc" -ne 1 ]; then
        fail "$f: exit status $rc, expected 1"
        continue
    fi
    n=0
    bad=
    grep -a '^# expect-error: ' "$f" | sed 's/^# expect-error: //' >"$T/expects"
    while IFS= read -r e; do
        n=$((n + 1))
        lc=${e%%: *}        # LINE:COL
        sub=${e#*: }        # SUBSTRING
        if ! grep -aF -- "$f:$lc: error: " "$T/err" | grep -qaF -- "$sub"; then
            bad="$bad [$lc: $sub]"
        fi
    done <"$T/expects"
    if [ "$n" -eq 0 ]; then
        fail "$f: has no '# expect-error:' line"
    elif [ -n "$bad" ]; then
        fail "$f: missing$bad"
        sed 's/^/    | /' "$T/err" | head -20
    else
        ok "$f: exit 1, $n error(s) as expected"
    fi
done

# ---------------------------------------------------------------------------
# tests/golden: valid models check silently.
for f in tests/golden/*.arch; do
    run --check "$f"
    if [ "$rc" -eq 0 ] && [ ! -s "$T/out" ] && [ ! -s "$T/err" ]; then
        ok "$f: --check exit 0, no output"
    else
        fail "$f: --check exit $rc, output: $(head -c 300 "$T/out" "$T/err")"
    fi
done

# ---------------------------------------------------------------------------
# Summaries: byte for byte, and the totals against the spec.
# These triples are the spec: /work/shared/MODELS.md (total, trainable, non-trainable).
totals() {
    case $1 in
    lenet5)    echo "61,706 61,706 0" ;;
    alexnet)   echo "58,692,452 58,691,748 704" ;;
    vgg16)     echo "138,357,544 138,357,544 0" ;;
    googlenet) echo "13,378,280 13,378,280 0" ;;
    resnet50)  echo "25,636,712 25,583,592 53,120" ;;
    mobilenet) echo "4,253,864 4,231,976 21,888" ;;
    esac
}
for m in lenet5 alexnet vgg16 googlenet resnet50 mobilenet; do
    run --summary "specs/$m.arch"
    if [ "$rc" -ne 0 ]; then
        fail "--summary specs/$m.arch: exit $rc"
        continue
    fi
    if cmp -s "$T/out" "tests/golden/summaries/$m.summary"; then
        ok "--summary specs/$m.arch equals tests/golden/summaries/$m.summary"
    else
        fail "--summary specs/$m.arch differs from tests/golden/summaries/$m.summary"
        diff "tests/golden/summaries/$m.summary" "$T/out" | head -10 | sed 's/^/    | /'
    fi
    set -- $(totals $m)
    if grep -qx "Total params: $1" "$T/out" && grep -qx "Trainable params: $2" "$T/out" &&
        grep -qx "Non-trainable params: $3" "$T/out"; then
        ok "$m totals $1 / $2 / $3 (MODELS.md)"
    else
        fail "$m totals are not $1 / $2 / $3 (MODELS.md): $(grep -i 'params:' "$T/out" | tr '\n' ' ')"
    fi
done

# ---------------------------------------------------------------------------
# Exit codes (SPEC §1: 0 success, 1 model errors, 2 usage or I/O).
run --help
check "--help exits 0 and prints usage" [ "$rc" -eq 0 -a -s "$T/out" ]
run --version
check "--version exits 0 and prints a version" sh -c "[ $rc -eq 0 ] && grep -q cnncc '$T/out'"
run
check "no arguments exits 2" [ "$rc" -eq 2 ]
run --frobnicate specs/lenet5.arch
check "unknown option exits 2" [ "$rc" -eq 2 ]
run --check "$T/does-not-exist.arch"
check "missing input file exits 2" [ "$rc" -eq 2 ]
run --check tests/bad/add_unequal_shapes.arch
check "a model error exits 1" [ "$rc" -eq 1 ]
run --summary specs/lenet5.arch -o
check "-o without a value exits 2" [ "$rc" -eq 2 ]
run --init-weights specs/lenet5.arch
check "--init-weights without -o exits 2" [ "$rc" -eq 2 ]

# An unused variable is only a warning: exit 0.
printf 'model m\ninput x: (4, 4, 3)\na = conv2d(x, 4, 3)\nb = flatten(x)\noutput b\n' >"$T/unused.arch"
run --check "$T/unused.arch"
check "an unused variable warns and exits 0" \
    sh -c "[ $rc -eq 0 ] && grep -q '$T/unused.arch:3:1: warning: variable .a. is assigned but never used' '$T/err'"

# Standard input as '-'.
"$CNNCC" --check - <specs/lenet5.arch >"$T/out" 2>"$T/err"
check "--check - reads stdin (exit 0)" [ $? -eq 0 -a ! -s "$T/err" ]
"$CNNCC" --summary - <specs/lenet5.arch >"$T/out" 2>"$T/err"
check "--summary - equals the file's summary" cmp -s "$T/out" tests/golden/summaries/lenet5.summary
"$CNNCC" --check - <tests/bad/unknown_op.arch >"$T/out" 2>"$T/err"
rc=$?
check "a bad model on stdin exits 1, named <stdin>" sh -c "[ $rc -eq 1 ] && grep -q '^<stdin>:[0-9]*:[0-9]*: error: ' '$T/err'"

# ---------------------------------------------------------------------------
# DOT output is valid Graphviz.
if command -v dot >/dev/null 2>&1; then
    for m in lenet5 googlenet resnet50; do
        run --emit=dot "specs/$m.arch"
        if [ "$rc" -eq 0 ] && dot -Tsvg "$T/out" >"$T/svg" 2>"$T/doterr" && grep -q '<svg' "$T/svg"; then
            ok "--emit=dot specs/$m.arch is accepted by dot -Tsvg"
        else
            fail "--emit=dot specs/$m.arch (exit $rc): $(head -c 300 "$T/doterr")"
        fi
    done
else
    skip "--emit=dot: graphviz 'dot' is not installed"
fi

# ---------------------------------------------------------------------------
# Rewrites that show in the generated code (their results are checked
# against the reference in tests/models.sh; here, that they happen).
run tests/golden/conv_depthwise.arch -o "$T/cd.c"
check "conv_depthwise: the two pairs read only by their depthwise layer run fused" \
    sh -c "[ \$(grep -c 'cnn_conv_dw_forward(' '$T/cd.c') -eq 2 ] &&
           grep -q '/\* conv2d (Conv2D) + batch_normalization + re_lu + depthwise_conv2d + ' '$T/cd.c' &&
           grep -q '/\* conv2d_1 (Conv2D) + depthwise_conv2d_1 \*/' '$T/cd.c'"
check "conv_depthwise: a model output and a tensor with two readers are not fused" \
    sh -c "grep -q '/\* conv2d_2 (Conv2D) \*/' '$T/cd.c' && grep -q '/\* conv2d_3 (Conv2D) \*/' '$T/cd.c'"
run specs/vgg16.arch -o "$T/vgg.c"
check "vgg16: the twelve 3x3 convolutions with 64+ input channels get Winograd scratch in the arena; the first one and the dense layers none" \
    sh -c "[ \$(grep -c 'cnn_conv_forward(.*, NULL, a + [0-9]*, &vgg16_s' '$T/vgg.c') -eq 12 ] &&
           [ \$(grep -c 'cnn_conv_forward(.*, NULL, NULL, &vgg16_s' '$T/vgg.c') -eq 4 ]"
run tests/golden/pad_pool.arch -o "$T/pp.c"
check "pad_pool: only the padding of the ReLU output before a 3x3 pooling folds (not a leaky one)" \
    sh -c "[ \$(grep -c 'cnn_zero_pad(' '$T/pp.c') -eq 4 ] && ! grep -q '/\* zero_padding2d (ZeroPadding2D)' '$T/pp.c'"
run specs/resnet50.arch -o "$T/r50.c"
check "resnet50: pool1_pad becomes the max pooling's padding" \
    sh -c "! grep -q 'cnn_zero_pad(' '$T/r50.c' && grep -q 'cnn_maxpool_forward(' '$T/r50.c'"

# ---------------------------------------------------------------------------
# Atomic outputs: a failed run leaves existing files as they were.
A="$T/atomic"
mkdir "$A"
echo "previous out.c" >"$A/out.c"
echo "previous out.h" >"$A/out.h"
echo "previous out.json" >"$A/out.json"
cp "$A/out.c" "$A/out.c.orig"
cp "$A/out.h" "$A/out.h.orig"
cp "$A/out.json" "$A/out.json.orig"

run tests/bad/add_unequal_shapes.arch -o "$A/out.c"
check "bad model -o out.c: exit 1" [ "$rc" -eq 1 ]
check "bad model -o out.c: out.c and out.h unchanged" \
    sh -c "cmp -s '$A/out.c' '$A/out.c.orig' && cmp -s '$A/out.h' '$A/out.h.orig'"
run --emit=json tests/bad/add_unequal_shapes.arch -o "$A/out.json"
check "bad model --emit=json -o out.json: exit 1, out.json unchanged" \
    sh -c "[ $rc -eq 1 ] && cmp -s '$A/out.json' '$A/out.json.orig'"
run specs/lenet5.arch -o "$A/out.c" --weights "$A/missing.safetensors"
check "missing --weights file: exit 2" [ "$rc" -eq 2 ]
check "missing --weights file: out.c and out.h unchanged" \
    sh -c "cmp -s '$A/out.c' '$A/out.c.orig' && cmp -s '$A/out.h' '$A/out.h.orig'"
check "missing --weights file: no out.weights" [ ! -e "$A/out.weights" ]
check "failed runs leave no temporary files" no_temp_files "$A"

# A successful json run replaces the file in one piece.
run --emit=json specs/lenet5.arch -o "$A/out.json"
check "--emit=json -o out.json replaces the file" \
    sh -c "[ $rc -eq 0 ] && grep -q '\"model\": \"lenet5\"' '$A/out.json' && [ ! -s '$T/out' ]"
check "a successful run leaves no temporary files" no_temp_files "$A"

# Interrupted: SIGTERM during a slow generation (VGG16 with 553 MB of embedded weights).
K="$T/kill"
mkdir "$K"
if "$CNNCC" --init-weights specs/vgg16.arch -o "$K/W.safetensors" 2>"$T/err"; then
    echo "previous big.c" >"$K/big.c"
    echo "previous big.h" >"$K/big.h"
    cp "$K/big.c" "$K/big.c.orig"
    cp "$K/big.h" "$K/big.h.orig"
    "$CNNCC" specs/vgg16.arch -o "$K/big.c" --weights "$K/W.safetensors" 2>"$T/err" &
    BG_PID=$!
    sleep 0.3
    if kill -TERM "$BG_PID" 2>/dev/null; then
        wait "$BG_PID" 2>/dev/null
        rc=$?
        BG_PID=
        if [ "$rc" -eq 0 ]; then
            skip "SIGTERM: the run finished before the signal arrived"
        else
            check "SIGTERM: the run died of the signal (status $rc)" [ "$rc" -ne 0 ]
            check "SIGTERM: previous big.c and big.h intact" \
                sh -c "cmp -s '$K/big.c' '$K/big.c.orig' && cmp -s '$K/big.h' '$K/big.h.orig'"
            check "SIGTERM: no partial big.weights" [ ! -e "$K/big.weights" ]
            check "SIGTERM: no temporary files left" no_temp_files "$K"
        fi
    else
        wait "$BG_PID" 2>/dev/null
        BG_PID=
        skip "SIGTERM: the run finished before the signal was sent"
    fi
    rm -f "$K/big.weights" "$K/big.c" "$K/big.h"
else
    fail "--init-weights specs/vgg16.arch: $(head -c 300 "$T/err")"
fi
rm -rf "$K"

# ---------------------------------------------------------------------------
# --init-weights: deterministic, seeded, with the Keras tensor names.
W="$T/w"
mkdir "$W"
"$CNNCC" --init-weights specs/lenet5.arch -o "$W/a.st" --seed 7 &&
    "$CNNCC" --init-weights specs/lenet5.arch -o "$W/b.st" --seed 7 &&
    "$CNNCC" --init-weights specs/lenet5.arch -o "$W/c.st" --seed 8 &&
    "$CNNCC" --init-weights specs/lenet5.arch -o "$W/d.st"
check "--init-weights runs" [ $? -eq 0 ]
check "--init-weights: same seed, same bytes" cmp -s "$W/a.st" "$W/b.st"
check "--init-weights: another seed, other bytes" sh -c "! cmp -s '$W/a.st' '$W/c.st'"
# The header: 8-byte little-endian length, then JSON.
hlen=$(od -An -t u8 -N 8 "$W/a.st" | tr -d ' ')
dd if="$W/a.st" of="$W/header" bs=1 skip=8 count="$hlen" 2>/dev/null
# SPEC §3 names and Keras shapes; LeNet-5: conv 5x5x1x6, 5x5x6x16, dense 400x120, 120x84, 84x10.
# Total size: header + 61,706 float32 parameters (MODELS.md).
names_ok=1
for t in 'conv2d/kernel:5,5,1,6' 'conv2d/bias:6' 'conv2d_1/kernel:5,5,6,16' 'conv2d_1/bias:16' \
    'dense/kernel:400,120' 'dense/bias:120' 'dense_1/kernel:120,84' 'dense_1/bias:84' \
    'dense_2/kernel:84,10' 'dense_2/bias:10'; do
    name=${t%%:*}
    shape=${t#*:}
    tr -d ' \n' <"$W/header" | grep -q "\"$name\":{[^}]*\"shape\":\[$shape\]" || {
        names_ok=0
        echo "    | no tensor $name with shape [$shape]"
    }
done
check "--init-weights header has the ten LeNet-5 tensors with Keras shapes" [ "$names_ok" -eq 1 ]
size=$(wc -c <"$W/a.st")
check "--init-weights file is 8 + header + 61706*4 bytes" [ "$size" -eq $((8 + hlen + 61706 * 4)) ]
rm -rf "$W"

# ---------------------------------------------------------------------------
# Generated C: deterministic, and clean C99 under gcc and clang.
G="$T/gen"
mkdir "$G"
run specs/resnet50.arch -o "$G/a.c"
check "resnet50 -o a.c exits 0" [ "$rc" -eq 0 ]
cp "$G/a.c" "$G/first.c"
cp "$G/a.h" "$G/first.h"
run specs/resnet50.arch -o "$G/a.c"
check "resnet50: two runs give identical a.c and a.h" \
    sh -c "[ $rc -eq 0 ] && cmp -s '$G/a.c' '$G/first.c' && cmp -s '$G/a.h' '$G/first.h'"
for cc in gcc clang; do
    if ! command -v $cc >/dev/null 2>&1; then
        skip "$cc is not installed"
        continue
    fi
    if $cc -std=c99 -Wall -Wextra -pedantic -Werror -I runtime -c "$G/a.c" -o "$G/a.o" 2>"$T/ccerr"; then
        ok "resnet50 a.c compiles with $cc -std=c99 -Wall -Wextra -pedantic -Werror"
    else
        fail "resnet50 a.c with $cc: $(head -c 600 "$T/ccerr")"
    fi
done
# The header alone is valid C99 too, and defines SPEC §5's macros.
printf '#include "a.h"\nint main(void) { return RESNET50_INPUT_SIZE == 224 * 224 * 3 && RESNET50_OUTPUT_SIZE == 1000 ? 0 : 1; }\n' >"$G/use.c"
if gcc -std=c99 -Wall -Wextra -pedantic -Werror -I "$G" -I runtime "$G/use.c" -o "$G/use" 2>"$T/ccerr" && "$G/use"; then
    ok "a.h (prefix = model name): RESNET50_INPUT_SIZE = 224*224*3, RESNET50_OUTPUT_SIZE = 1000"
else
    fail "a.h macros: $(head -c 600 "$T/ccerr")"
fi
rm -rf "$G"

# Limits that are not an .arch construct: the input size.
L="$T/limits"
mkdir "$L"
{ echo "model big"; awk 'BEGIN { for (i = 0; i < 600000; i++) print "# filler line of a source larger than the limit" }'; } >"$L/big.arch"
run --check "$L/big.arch"
check "a source over 16 MiB: exit 1, the limit named" sh -c "[ $rc -eq 1 ] && grep -q 'more than the limit' '$T/err'"
awk 'BEGIN { printf "model deep\ninput x: (4)\ny = "; for (i = 0; i < 100000; i++) printf "("; }' >"$L/deep.arch"
run --check "$L/deep.arch"
check "100,000 open parentheses: exit 1 with one nesting error" \
    sh -c "[ $rc -eq 1 ] && [ \$(grep -c 'nested deeper' '$T/err') -eq 1 ]"
rm -rf "$L"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
