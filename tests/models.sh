#!/bin/sh
# tests/models.sh BUILD MODEL... — each model generated, compiled (warning-
# free: -Werror -pedantic), run on seeded input with seeded weights (batch
# normalization statistics included), and compared with the independent
# reference implementation in tests/reference/: the largest error must stay
# under 1e-4 of the output's scale.  The same comparison runs again on the
# portable C kernels (CNNRT_ISA=generic) and on two threads.
set -u
. tests/lib.sh
B=$1
shift
W=$B/models
pass=0
fail=0
check() { # name, command...
    name=$1
    shift
    if out=$("$@" 2>&1); then
        pass=$((pass + 1))
        echo "ok   $name: $(echo "$out" | tail -n 1)"
    else
        fail=$((fail + 1))
        echo "FAIL $name"
        echo "$out" | sed 's/^/     /'
    fi
}

for m in "$@"; do
    prepare_model $B $W $m &&
        $B/ref/ref_infer $W/$m.json $W/$m.safetensors $W/$m.in.f32 $W/$m.ref >/dev/null ||
        { echo "FAIL $m: reference could not run"; fail=$((fail + 1)); continue; }
    check "$m" sh -c "$W/run_$m $W/$m.safetensors $W/$m.in.f32 $W/$m.out && $B/compare $W/${m}.out0.f32 $W/${m}.ref0.f32"
    check "$m generic C" sh -c "CNNRT_ISA=generic $W/run_$m $W/$m.safetensors $W/$m.in.f32 $W/$m.gen && $B/compare $W/${m}.gen0.f32 $W/${m}.ref0.f32"
    check "$m 2 threads" sh -c "CNNRT_THREADS=2 $W/run_$m $W/$m.safetensors $W/$m.in.f32 $W/$m.thr && $B/compare $W/${m}.thr0.f32 $W/${m}.ref0.f32"
    # the arena and the packed weights start on a 64-byte line (CNN_CACHE_ALIGNED;
    # without it the compiler's 32-byte alignment lands on a line by chance,
    # so one model may pass, not all six)
    check "$m arrays on cache lines" sh -c "nm $W/run_$m | awk '/ ${m}_(arena|packed)\$/ { n++; if (substr(\$1, length(\$1)) != \"0\" || index(\"048c\", substr(\$1, length(\$1) - 1, 1)) == 0) { print \$3 \" at 0x\" \$1; bad = 1 } } END { if (bad || n != 2) exit 1; print n \" arrays aligned\" }'"
    rm -f $W/$m.safetensors
done
# The small models of tests/golden/ exercise every op and every rewrite
# (copies into concatenations, folded padding, unfused batch norm, n-ary add,
# convolution + depthwise through a ring), natively, on the portable C path
# and on two threads.
G=$B/golden_models
mkdir -p $G
for f in tests/golden/*.arch; do
    g=$(basename $f .arch)
    cp $f $G/$g.arch
    $B/cnncc --emit=json $f >$G/$g.json &&
        $B/ref/random_weights $G/$g.json $G/$g.safetensors 5 >/dev/null &&
        $B/ref/random_weights --input $(input_size $G/$g.json) $G/$g.in.f32 9 >/dev/null &&
        $B/ref/ref_infer $G/$g.json $G/$g.safetensors $G/$g.in.f32 $G/$g.ref >/dev/null &&
        $B/cnncc $f -o $G/$g.c --prefix g &&
        ${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror -O1 ${CFLAGS:-} -D_POSIX_C_SOURCE=200809L -Iruntime -I$G \
            -include $G/$g.h -DMODEL=g -DMODEL_UPPER=G -DNOUT=$(output_count $G/$g.json) -o $G/run_$g tests/models/run_model.c $G/$g.c \
            $B/libcnnrt.a -lm -lpthread ||
        { echo "FAIL golden $g: could not build"; fail=$((fail + 1)); continue; }
    for isa in native generic threads; do
        $G/run_$g $G/$g.safetensors $G/$g.in.f32 $G/$g.$isa >/dev/null 2>&1 ||
            CNNRT_ISA=generic $G/run_$g $G/$g.safetensors $G/$g.in.f32 $G/$g.$isa
        [ $isa = generic ] && CNNRT_ISA=generic $G/run_$g $G/$g.safetensors $G/$g.in.f32 $G/$g.$isa
        [ $isa = threads ] && CNNRT_THREADS=2 $G/run_$g $G/$g.safetensors $G/$g.in.f32 $G/$g.$isa
        k=0
        while [ $k -lt $(output_count $G/$g.json) ]; do
            check "golden $g ($isa) output $k" $B/compare $G/$g.$isa$k.f32 $G/$g.ref$k.f32
            k=$((k + 1))
        done
    done
done

# GoogLeNet generated with --keep-aux: the auxiliary heads match too.
if [ -x $W/run_googlenet_aux ]; then
    m=googlenet
    prepare_model $B $W $m &&
        $B/ref/ref_infer $W/$m.json $W/$m.safetensors $W/$m.in.f32 $W/$m.refaux --aux >/dev/null
    $W/run_googlenet_aux $W/$m.safetensors $W/$m.in.f32 $W/$m.aux
    for k in 0 1 2; do check "googlenet --keep-aux output $k" $B/compare $W/$m.aux$k.f32 $W/$m.refaux$k.f32; done
    rm -f $W/$m.safetensors
fi
echo "models: $pass passed, $fail failed"
[ $fail -eq 0 ]
