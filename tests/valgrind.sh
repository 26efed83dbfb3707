#!/bin/sh
# tests/valgrind.sh BUILD MODEL... — generated models under valgrind: no
# invalid access, no use of uninitialised memory, no leak.
set -u
# Floats in the model's input, from the JSON graph.
input_size() {
    sed -n 's/.*"inputs": \[{"name": "[^"]*", "shape": \[\([0-9, ]*\)\].*/\1/p' "$1" | tr ',' '\n' |
        awk 'BEGIN { p = 1 } { p *= $1 } END { print p }'
}
B=$1
shift
W=$B/models
pass=0
fail=0
for m in "$@"; do
    $B/cnncc --emit=json specs/$m.arch >$W/$m.vg.json &&
        $B/ref/random_weights $W/$m.vg.json $W/$m.vg.safetensors 3 >/dev/null &&
        $B/ref/random_weights --input $(input_size $W/$m.vg.json) $W/$m.vg.in.f32 5 >/dev/null || { fail=$((fail + 1)); continue; }
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        $W/run_$m $W/$m.vg.safetensors $W/$m.vg.in.f32 $W/$m.vg.out; then
        pass=$((pass + 1))
        echo "ok   $m: valgrind clean"
    else
        fail=$((fail + 1))
        echo "FAIL $m: valgrind reported errors"
    fi
    rm -f $W/$m.vg.safetensors
done
echo "valgrind: $pass passed, $fail failed"
[ $fail -eq 0 ]
