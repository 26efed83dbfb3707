#!/usr/bin/python3
"""Batch-1 latency of the six models in PyTorch (fp32, CPU).

    THREADS=1 MODE=eager /usr/bin/python3 bench/frameworks/torch_bench.py [MODEL...]

MODE=eager (default) runs the nn.Module as is; MODE=frozen runs
torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model))).

The models are make_models.py's (same seeded weights as the exported ONNX
files; BN left unfolded, as a PyTorch user runs them).  torch.set_num_threads
(THREADS, default 1), one inter-op thread, torch.inference_mode; warm-up, then
one timed forward per run.  GFLOP/s = 2 x cnncc's multiply-accumulates (the
"Multiply-accumulates:" line of `build/cnncc --summary specs/X.arch`, as
`make bench` uses) / median time.  Run from the repository root (or set CNNCC).
"""
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models  # noqa: E402

# As bench/run.sh: many runs for the small models, few for VGG16.
RUNS = {"lenet5": 20000, "alexnet": 30, "vgg16": 10, "googlenet": 40,
        "resnet50": 20, "mobilenet": 40}


def cnncc_macs(name):
    cnncc = os.environ.get("CNNCC", "build/cnncc")
    out = subprocess.run([cnncc, "--summary", "specs/%s.arch" % name],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Multiply-accumulates:"):
            return int(line.split(":")[1].strip().replace(",", ""))
    raise RuntimeError("no Multiply-accumulates line for " + name)


def prepare(name, mode):
    model = make_models.build(name)
    x = make_models.example_input(name)
    if mode == "frozen":
        # The deployment path of torch 1.13: TorchScript, frozen, then
        # optimize_for_inference (folds BN into convs, moves convs to oneDNN).
        with torch.no_grad():
            model = torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(model, x)))
    elif mode != "eager":
        raise SystemExit("MODE must be eager or frozen")
    return model, x


def bench(name, runs, mode):
    model, x = prepare(name, mode)
    times = []
    with torch.inference_mode():
        for _ in range(max(3, runs // 10)):
            model(x)
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def blas_in_use():
    """Which libblas.so.3 this process loaded (Debian's torch links the
    system's, netlib's reference BLAS by default; see README.md)."""
    with open("/proc/self/maps") as f:
        maps = f.read()
    for lib in ("openblas", "mkl", "blis"):
        if lib in maps:
            return lib
    return "reference (netlib)" if "libblas.so.3" in maps else "unknown"


def main():
    threads = int(os.environ.get("THREADS", "1"))
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    mode = os.environ.get("MODE", "eager")
    names = sys.argv[1:] or make_models.MODELS
    print("PyTorch %s (%s), %d intra-op thread(s), 1 inter-op thread, inference_mode; BLAS: %s"
          % (torch.__version__, mode, torch.get_num_threads(), blas_in_use()))
    print("%-10s %8s %12s %12s %10s" % ("model", "runs", "median_ms", "min_ms", "GFLOP/s"))
    for name in names:
        macs = cnncc_macs(name)
        runs = int(os.environ.get("RUNS", RUNS[name]))
        med, best = bench(name, runs, mode)
        print("%-10s %8d %12.3f %12.3f %10.1f" % (
            name, runs, med * 1e3, best * 1e3, 2 * macs / med / 1e9), flush=True)


if __name__ == "__main__":
    main()
