#!/bin/sh
# tests/embedded.sh BUILD MODEL... — every model with its weights embedded
# (--weights, .incbin): it must compile warning-free in reasonable time and
# give the same outputs as the reference.  VGG16 embeds 553 MB: make check-full.
set -u
. tests/lib.sh
B=$1
shift
E=$B/embedded
mkdir -p $E
pass=0
fail=0
for m in "$@"; do
    M=$(echo $m | tr a-z A-Z)
    start=$(date +%s)
    if prepare_model $B $E $m &&
        $B/ref/ref_infer $E/$m.json $E/$m.safetensors $E/$m.in.f32 $E/$m.ref >/dev/null &&
        $B/cnncc specs/$m.arch -o $E/$m.c --weights $E/$m.safetensors &&
        ${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror -O2 -D_POSIX_C_SOURCE=200809L -Iruntime -I$E -Wa,-I$E \
            -include $E/$m.h -DMODEL=$m -DMODEL_UPPER=$M -o $E/run_$m tests/models/run_model.c $E/$m.c \
            $B/libcnnrt.a -lm -lpthread &&
        $E/run_$m - $E/$m.in.f32 $E/$m.out &&
        $B/compare $E/$m.out0.f32 $E/$m.ref0.f32; then
        pass=$((pass + 1))
        echo "ok   $m embedded ($(($(date +%s) - start)) s, weights file $(du -h $E/$m.weights | cut -f1))"
    else
        fail=$((fail + 1))
        echo "FAIL $m embedded"
    fi
    rm -f $E/$m.safetensors $E/$m.weights $E/run_$m
done
echo "embedded: $pass passed, $fail failed"
[ $fail -eq 0 ]
