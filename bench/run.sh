#!/bin/sh
# bench/run.sh BUILD THREADS MODEL... — `make bench`: batch-1 latency of the
# generated models (Keras-default weights from cnncc --init-weights, a seeded
# input), GFLOP/s = 2 x multiply-accumulates / median time, and the fraction
# of this core's FMA peak measured in the same run by bench/peak.c.  The
# virtual machine this was written on changes speed by up to 1.6x from
# minute to minute, so the peak is measured again just before and just
# after each model, and the model is divided by the larger of the two
# (columns fma_peak, of_peak): the model against what the core could do at
# that time.  of_best divides by the highest peak seen in the whole run:
# the most conservative figure, low when the model ran in a slow minute.
set -eu
. tests/lib.sh
B=$1
THREADS=$2
shift 2
D=$B/bench
mkdir -p $D
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(date -u +%Y-%m-%d)"
$B/bench/peak >$D/peak.txt
peak=$(awk '/^peak_gflops/ {print $2}' $D/peak.txt)
copy=$(awk '/^copy_gbps/ {print $2}' $D/peak.txt)
echo "one core: FMA peak $peak GFLOP/s, copy bandwidth $copy GB/s; CNNRT_THREADS=$THREADS"
echo
printf '%-10s %12s %12s %10s %9s %8s %8s %14s %12s %12s\n' model median_us min_us GFLOP/s fma_peak of_peak of_best weight_bytes arena_bytes peak_rss_kB
best_peak=$peak
runs_for() {
    case $1 in
    lenet5) echo 20000 ;; vgg16) echo 8 ;; alexnet) echo 30 ;; resnet50) echo 20 ;; *) echo 40 ;;
    esac
}
fma_peak() {
    p=$($B/bench/peak --fma | awk '/^peak_gflops/ {print $2}')
    [ -n "$p" ] || { echo "bench: bench/peak --fma failed" >&2; exit 1; }
    echo $p
}
bench_one() { # name arch runner [row]: row = add the model to the table
    name=$1 arch=$2 run=$3
    $B/cnncc --summary $arch >$D/$name.summary
    macs=$(awk -F': ' '/^Multiply-accumulates/ {gsub(",", "", $2); print $2}' $D/$name.summary)
    wbytes=$(awk -F': ' '/^Weight bytes/ {split($2, a, " "); gsub(",", "", a[1]); print a[1]}' $D/$name.summary)
    arena=$(awk -F': ' '/^Activation arena/ {split($2, a, " "); gsub(",", "", a[1]); print a[1]}' $D/$name.summary)
    $B/cnncc --init-weights $arch -o $D/$name.safetensors
    $B/cnncc --emit=json $arch >$D/$name.json
    $B/ref/random_weights --input $(input_size $D/$name.json) $D/$name.in.f32 1 >/dev/null
    before=$(fma_peak)
    CNNRT_THREADS=$THREADS $run $D/$name.safetensors $D/$name.in.f32 $D/$name.out $(runs_for $name) >$D/$name.time
    after=$(fma_peak)
    now_peak=$(awk -v a=$before -v b=$after 'BEGIN {print (a > b ? a : b)}')
    rm -f $D/$name.safetensors
    med=$(awk '/^median_us/ {print $2}' $D/$name.time)
    min=$(awk '/^min_us/ {print $2}' $D/$name.time)
    rss=$(awk '/^maxrss_kb/ {print $2}' $D/$name.time)
    gflops=$(awk -v m=$macs -v t=$med 'BEGIN {printf "%.1f", 2 * m / t / 1000}')
    frac=$(awk -v g=$gflops -v p=$now_peak 'BEGIN {printf "%.0f%%", 100 * g / p}')
    if [ -n "${4:-}" ]; then
        best_peak=$(awk -v a=$best_peak -v b=$now_peak 'BEGIN {print (a > b ? a : b)}')
        echo "$name $med $min $gflops $now_peak $frac $wbytes $arena $rss" >>$D/rows
    fi
    eval "time_$name=$med bytes_$name=$wbytes"
}
rm -f $D/rows
for m in "$@"; do bench_one $m specs/$m.arch $B/models/run_$m row; done
awk -v best=$best_peak '{ printf "%-10s %12s %12s %10s %9s %8s %7.0f%% %14s %12s %12s\n",
    $1, $2, $3, $4, $5, $6, 100 * $4 / best, $7, $8, $9 }' $D/rows
echo "highest FMA peak seen in this run: $best_peak GFLOP/s"

# The dense layers of AlexNet and VGG16 read their weights once per
# inference: bound by memory bandwidth, not by the FMA units.
echo
for d in alexnet_dense vgg16_dense; do
    $B/cnncc bench/$d.arch -o $D/$d.c
    ${CC:-cc} -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -Iruntime -I$D -include $D/$d.h -DMODEL=$d \
        -DMODEL_UPPER=$(echo $d | tr a-z A-Z) -o $D/run_$d tests/models/run_model.c $D/$d.c $B/libcnnrt.a -lm -lpthread
    bench_one $d bench/$d.arch $D/run_$d
    eval "t=\$time_$d b=\$bytes_$d"
    awk -v n=$d -v b=$b -v t=$t -v c=$copy 'BEGIN {
        bw = b / t / 1000; printf "%-14s %5.0f MB of weights read per inference in %.0f us: %.1f GB/s = %.0f%% of the copy bandwidth\n", n, b / 1e6, t, bw, 100 * bw / c }'
done
