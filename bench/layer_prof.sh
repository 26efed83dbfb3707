#!/bin/sh
# bench/layer_prof.sh MODEL [RUNS] — per-layer minimum times of a generated
# model (bench/layer_prof.c wraps the runtime's entry points at link time;
# the generated code is not changed).  Needs `make all build/gen/MODEL.c`.
# CNNRT_THREADS, LAYER_PROF_PEAK, LAYER_PROF_SORT and LAYER_PROF_HOT pass
# through; LIB=path links another build of the runtime (A/B comparisons).
set -eu
m=$1
runs=${2:-20}
B=${B:-build}
D=$B/prof
mkdir -p $D
make --no-print-directory -s $B/gen/$m.c $B/libcnnrt.a $B/ref/random_weights
wraps=""
for f in conv_forward dwconv_forward conv_dw_forward maxpool_forward avgpool_forward zero_pad add activate \
         copy_channels global_avgpool global_maxpool softmax lrn; do
    wraps="$wraps -Wl,--wrap=cnn_$f"
done
${CC:-cc} -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -Iruntime -I$B/gen -include $B/gen/$m.h -DMODEL=$m \
    -DMODEL_UPPER=$(echo $m | tr a-z A-Z) $wraps -o $D/run_$m tests/models/run_model.c bench/layer_prof.c \
    $B/gen/$m.c ${LIB:-$B/libcnnrt.a} -lm -lpthread
[ -f $D/$m.safetensors ] || $B/cnncc --init-weights specs/$m.arch -o $D/$m.safetensors
. tests/lib.sh
$B/cnncc --emit=json specs/$m.arch >$D/$m.json
[ -f $D/$m.in.f32 ] || $B/ref/random_weights --input $(input_size $D/$m.json) $D/$m.in.f32 1 >/dev/null
$D/run_$m $D/$m.safetensors $D/$m.in.f32 $D/$m.out $runs
