#!/bin/sh
# selftest.sh — check the reference implementation against hand-computed cases.
#
#   tests/reference/selftest.sh CNNCC REF_INFER RANDOM_WEIGHTS
#
# For every tests/reference/cases/NAME.arch: the graph comes from
# `CNNCC --emit=json`, the weights from NAME.weights.txt (random_weights
# --from-text), the input from NAME.input.txt; ref_infer runs with --aux and
# output K is compared with NAME.outK.txt, whose values (and the arithmetic
# behind them, in comments) were worked out by hand or with bc, never copied
# from the program.  Builds nothing; exit 0 when everything matches.
#
# Tolerance: |got - want| <= 1e-6 + 1e-6 * |want| (float32 outputs; the
# expected values have at least 9 significant digits).

set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 CNNCC REF_INFER RANDOM_WEIGHTS" >&2
    exit 2
fi
cnncc=$1
ref_infer=$2
random_weights=$3
cases=$(dirname "$0")/cases
tmp=$(mktemp -d "${TMPDIR:-/tmp}/refselftest.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

failures=0
checks=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# Numbers of a text file, comments ('#' to end of line) removed, one a line.
numbers() {
    sed 's/#.*//' "$1" | tr -s ' \t' '\n\n' | sed '/^$/d'
}

# compare NAME GOT.f32 WANT.txt
compare() {
    numbers "$3" > "$tmp/want"
    od -An -v -t f4 -w4 "$2" | tr -d ' ' > "$tmp/got"
    if ! awk -v name="$1" '
        NR == FNR { want[FNR] = $1; n_want = FNR; next }
        { got[FNR] = $1; n_got = FNR }
        END {
            if (n_got != n_want) {
                printf "%s: %d values, expected %d\n", name, n_got, n_want
                exit 1
            }
            bad = 0
            for (i = 1; i <= n_want; i++) {
                w = want[i] + 0; g = got[i] + 0
                d = g - w; if (d < 0) d = -d
                tol = 1e-6 + 1e-6 * (w < 0 ? -w : w)
                if (d > tol || got[i] ~ /nan/) {
                    printf "%s[%d]: got %s, expected %s\n", name, i - 1, got[i], want[i]
                    bad = 1
                }
            }
            exit bad
        }' "$tmp/want" "$tmp/got" >&2; then
        fail "$1"
    fi
    checks=$((checks + 1))
}

for arch in "$cases"/*.arch; do
    name=$(basename "$arch" .arch)
    json=$tmp/$name.json
    if ! "$cnncc" --emit=json "$arch" > "$json"; then
        fail "$name: cnncc --emit=json"
        continue
    fi
    if ! "$random_weights" --from-text "$json" "$tmp/$name.st" "$cases/$name.weights.txt"; then
        fail "$name: random_weights --from-text"
        continue
    fi
    if ! "$random_weights" --f32-from-text "$cases/$name.input.txt" "$tmp/$name.in"; then
        fail "$name: random_weights --f32-from-text"
        continue
    fi
    if ! "$ref_infer" "$json" "$tmp/$name.st" "$tmp/$name.in" "$tmp/${name}_out" --aux; then
        fail "$name: ref_infer"
        continue
    fi
    k=0
    while [ -f "$cases/$name.out$k.txt" ]; do
        if [ -f "$tmp/${name}_out$k.f32" ]; then
            compare "$name output $k" "$tmp/${name}_out$k.f32" "$cases/$name.out$k.txt"
        else
            fail "$name: output $k not written"
        fi
        k=$((k + 1))
    done
    [ $k -gt 0 ] || fail "$name: no expected outputs"
    [ -f "$tmp/${name}_out$k.f32" ] && fail "$name: more outputs than expected files"
done

# Without --aux the auxiliary output of merge.arch is not written.
if "$ref_infer" "$tmp/merge.json" "$tmp/merge.st" "$tmp/merge.in" "$tmp/noaux_out"; then
    [ -f "$tmp/noaux_out2.f32" ] || fail "merge without --aux: main outputs missing"
    [ -f "$tmp/noaux_out3.f32" ] && fail "merge without --aux: auxiliary output written"
else
    fail "merge without --aux: ref_infer"
fi
checks=$((checks + 1))

# random_weights is deterministic in its seed, and the seed matters.
"$random_weights" "$tmp/conv.json" "$tmp/w1.st" 3 &&
    "$random_weights" "$tmp/conv.json" "$tmp/w2.st" 3 &&
    "$random_weights" "$tmp/conv.json" "$tmp/w3.st" 4 &&
    "$random_weights" --input 100 "$tmp/i1.f32" 3 &&
    "$random_weights" --input 100 "$tmp/i2.f32" 3 || fail "random_weights runs"
cmp -s "$tmp/w1.st" "$tmp/w2.st" || fail "random_weights: same seed, different bytes"
cmp -s "$tmp/w1.st" "$tmp/w3.st" && fail "random_weights: seed ignored"
cmp -s "$tmp/i1.f32" "$tmp/i2.f32" || fail "random_weights --input: same seed, different bytes"
[ "$(wc -c < "$tmp/i1.f32")" -eq 400 ] || fail "random_weights --input: size"
od -An -v -t f4 "$tmp/i1.f32" | awk '{ for (i = 1; i <= NF; i++) if ($i < 0 || $i >= 1) bad = 1 }
    END { exit bad }' || fail "random_weights --input: value outside [0, 1)"
checks=$((checks + 1))

# An external cross-check when the fixtures are present: LeNet-5 with the
# weights, input and output produced by PyTorch (tools/, tests/fixtures/).
fixtures=$(dirname "$0")/../fixtures
if [ -f "$fixtures/lenet5_golden_output.f32" ]; then
    if "$ref_infer" "$fixtures/lenet5_graph.json" "$fixtures/lenet5_golden.safetensors" \
        "$fixtures/lenet5_golden_input.f32" "$tmp/lenet5_out"; then
        od -An -v -t f4 -w4 "$fixtures/lenet5_golden_output.f32" > "$tmp/lenet5_want.txt"
        compare "lenet5 PyTorch golden" "$tmp/lenet5_out0.f32" "$tmp/lenet5_want.txt"
    else
        fail "lenet5 golden: ref_infer"
    fi
fi

if [ $failures -ne 0 ]; then
    echo "reference selftest: $failures of $checks checks FAILED" >&2
    exit 1
fi
echo "reference selftest: all $checks checks passed"
