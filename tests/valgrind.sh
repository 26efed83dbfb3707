#!/bin/sh
# tests/valgrind.sh BUILD MODEL... — generated models under valgrind: no
# invalid access, no use of uninitialised memory, no leak.
set -u
. tests/lib.sh
B=$1
shift
W=$B/models
pass=0
fail=0
for m in "$@"; do
    prepare_model $B $W $m || { fail=$((fail + 1)); continue; }
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        $W/run_$m $W/$m.safetensors $W/$m.in.f32 $W/$m.vg; then
        pass=$((pass + 1))
        echo "ok   $m: valgrind clean"
    else
        fail=$((fail + 1))
        echo "FAIL $m: valgrind reported errors"
    fi
    rm -f $W/$m.safetensors
done
echo "valgrind: $pass passed, $fail failed"
[ $fail -eq 0 ]
