#!/bin/sh
# bench/frameworks/run.sh — batch-1 latency of specs/*.arch's six models in
# ONNX Runtime and PyTorch on this machine (development-time tooling; see
# README.md).  Run from anywhere:  THREADS=2 sh bench/frameworks/run.sh
# Needs build/cnncc (`make`), /usr/bin/python3 with PyTorch 1.13, node + npm.
set -eu
cd "$(dirname "$0")/../.."
F=bench/frameworks
THREADS=${THREADS:-1}
export THREADS
PY=/usr/bin/python3

[ -x build/cnncc ] || make build/cnncc
if [ ! -d $F/node_modules/onnxruntime-node ]; then
    (cd $F && ONNXRUNTIME_NODE_INSTALL=skip npm ci)
fi
for m in lenet5 alexnet vgg16 googlenet resnet50 mobilenet; do
    [ -f $F/models/$m.onnx ] || { $PY $F/make_models.py 2>/dev/null; break; }
done
# Debian's PyTorch links the system libblas.so.3, by default netlib's
# reference BLAS; a pip-installed PyTorch uses MKL.  For an optimized-BLAS
# figure without touching the system, Debian's OpenBLAS is unpacked here and
# preloaded with LD_LIBRARY_PATH.
OB=$F/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread
if [ ! -f $OB/libblas.so.3 ]; then
    tmp=$(mktemp -d)
    (cd $tmp && apt-get download libopenblas0-pthread >/dev/null 2>&1)
    dpkg -x $tmp/libopenblas0-pthread_*.deb $F/openblas
    rm -rf $tmp
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); load:$(uptime | sed 's/.*load average//')"
echo
node $F/ort_bench.js "$@"
echo
$PY $F/torch_bench.py "$@"
echo
LD_LIBRARY_PATH=$OB OPENBLAS_NUM_THREADS=$THREADS $PY $F/torch_bench.py "$@"
echo
LD_LIBRARY_PATH=$OB OPENBLAS_NUM_THREADS=$THREADS MODE=frozen $PY $F/torch_bench.py "$@" 2>/dev/null
echo
echo "load at the end:$(uptime | sed 's/.*load average//')"
