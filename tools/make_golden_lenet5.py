#!/usr/bin/python3
"""Golden LeNet-5 fixtures from an independent implementation (PyTorch).

    /usr/bin/python3 tools/make_golden_lenet5.py [--seed 2024]

Writes to tests/fixtures/:
  lenet5_golden.safetensors    seeded random weights, cnncc names and layouts
  lenet5_golden_input.f32      seeded random input, (32, 32, 1) in [0, 1],
                               raw little-endian float32 (H, W, C order)
  lenet5_golden_output.f32     PyTorch's softmax output, 10 LE float32

PyTorch computes in float64 and the result is rounded to float32, so the
golden output is as exact as float32 can hold; compare the generated C with
a tolerance of about 1e-5. Weights are glorot-uniform sized (biases in
+-0.1) so no tanh saturates and the output is far from one-hot.
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_keras  # noqa: E402
import safetensors_io  # noqa: E402
from arch_graph import load_graph  # noqa: E402
from torch_to_safetensors import convert_state_dict  # noqa: E402
from train_lenet5 import LeNet5  # noqa: E402


def randomize(model, generator):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("weight"):
                fan_out = param.shape[0] * param[0, 0].numel() if param.dim() == 4 else param.shape[0]
                fan_in = param[0].numel()
                limit = (6 / (fan_in + fan_out)) ** 0.5
                param.uniform_(-limit, limit, generator=generator)
            else:
                param.uniform_(-0.1, 0.1, generator=generator)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description="Write LeNet-5 golden fixtures with PyTorch.")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--arch", default=os.path.join(root, "specs/lenet5.arch"))
    parser.add_argument("--cnncc", default=os.path.join(root, "build/cnncc"))
    parser.add_argument("--graph", help="--emit=json output to use instead of running cnncc")
    parser.add_argument("--out", default=os.path.join(root, "tests/fixtures"))
    args = parser.parse_args()
    if not args.graph and not os.path.exists(args.cnncc):
        args.graph = os.path.join(root, "tests/fixtures/lenet5_graph.json")
    graph = load_graph(args.arch, args.cnncc, args.graph)

    generator = torch.Generator().manual_seed(args.seed)
    model = LeNet5()
    randomize(model, generator)
    image = torch.rand(32, 32, 1, generator=generator)  # (H, W, C), as cnncc reads it
    model = model.double().eval()
    with torch.no_grad():
        probs = torch.softmax(model(image.double().permute(2, 0, 1)[None]), dim=1)[0]
    probs = probs.float().numpy()

    tensors = convert_state_dict(graph, model.float().state_dict())
    check = numpy_keras.run(graph, tensors, {graph["inputs"][0]["name"]: image.numpy()})
    assert np.abs(check - probs).max() < 1e-6, "Keras-layout NumPy run disagrees with PyTorch"

    safetensors_io.save(os.path.join(args.out, "lenet5_golden.safetensors"), tensors)
    with open(os.path.join(args.out, "lenet5_golden_input.f32"), "wb") as f:
        f.write(image.numpy().astype("<f4").tobytes())
    with open(os.path.join(args.out, "lenet5_golden_output.f32"), "wb") as f:
        f.write(probs.astype("<f4").tobytes())
    print("golden output:", " ".join(f"{p:.6f}" for p in probs))


if __name__ == "__main__":
    main()
