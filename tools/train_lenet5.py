#!/usr/bin/python3
"""Train LeNet-5 (specs/lenet5.arch) on Fashion-MNIST with PyTorch.

Development-time only; `make` never runs it. Writes
  examples/weights/lenet5_fashion.safetensors   the weights, Keras names/layouts
  examples/weights/lenet5_fashion.json          PyTorch's own test-set figures
  tests/fixtures/fashion_first100.u8            first 100 test images, raw 100x28x28
  tests/fixtures/fashion_first100_labels.u8     their labels
  tests/fixtures/fashion_first100_pred.u8       PyTorch's predicted classes
  tests/fixtures/fashion_first100_probs.f32     PyTorch's probabilities, 100x10 LE float32

The weights go through torch_to_safetensors.convert_state_dict, the same code
as the command-line converter, and are then checked by running the Keras-layout
graph in NumPy (numpy_keras) on the first 100 test images.

    /usr/bin/python3 tools/train_lenet5.py [--epochs 20] [--seed 1]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402
import numpy_keras  # noqa: E402
import safetensors_io  # noqa: E402
from arch_graph import load_graph  # noqa: E402
from torch_to_safetensors import convert_state_dict  # noqa: E402


class LeNet5(nn.Module):
    """Exactly specs/lenet5.arch; forward returns logits (softmax is in the loss)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)      # conv2d    (28, 28, 6) tanh
        self.pool1 = nn.AvgPool2d(2)         # average_pooling2d
        self.conv2 = nn.Conv2d(6, 16, 5)     # conv2d_1  (10, 10, 16) tanh
        self.pool2 = nn.AvgPool2d(2)         # average_pooling2d_1
        self.fc1 = nn.Linear(16 * 5 * 5, 120)  # dense   tanh, after flatten
        self.fc2 = nn.Linear(120, 84)        # dense_1   tanh
        self.fc3 = nn.Linear(84, 10)         # dense_2   softmax

    def forward(self, x):
        x = self.pool1(torch.tanh(self.conv1(x)))
        x = self.pool2(torch.tanh(self.conv2(x)))
        x = torch.flatten(x, 1)  # (C, H, W) order; the converter reorders to Keras (H, W, C)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


def augment(batch, generator):
    """Random horizontal flips and shifts of up to 2 pixels (the zero border absorbs them)."""
    flip = torch.rand(batch.shape[0], generator=generator) < 0.5
    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    dy, dx = torch.randint(-2, 3, (2,), generator=generator).tolist()
    return torch.roll(batch, shifts=(dy, dx), dims=(2, 3))


def train(model, images, labels, epochs, seed, batch_size=128):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * -(-len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(images), batch_size):
            index = order[start:start + batch_size]
            batch = augment(images[index], generator)
            loss = loss_fn(model(batch), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(images):.4f}", flush=True)


@torch.no_grad()
def evaluate(model, images, labels):
    model.eval()
    probs = torch.cat([torch.softmax(model(images[i:i + 1000]), dim=1)
                       for i in range(0, len(images), 1000)]).numpy()
    labels = labels.numpy()
    top5 = np.argsort(-probs, axis=1, kind="stable")[:, :5]
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (labels, top5[:, 0]), 1)
    return probs, {
        "top1": float(np.mean(top5[:, 0] == labels)),
        "top5": float(np.mean((top5 == labels[:, None]).any(axis=1))),
        "confusion": confusion.tolist(),
    }


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description="Train LeNet-5 on Fashion-MNIST.")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=fashion_mnist.DATASET_DIR)
    parser.add_argument("--arch", default=os.path.join(root, "specs/lenet5.arch"))
    parser.add_argument("--cnncc", default=os.path.join(root, "build/cnncc"))
    parser.add_argument("--graph", help="--emit=json output to use instead of running cnncc "
                        "(default when cnncc is not built: tests/fixtures/lenet5_graph.json)")
    parser.add_argument("--out", default=os.path.join(root, "examples/weights/lenet5_fashion"))
    parser.add_argument("--fixtures", default=os.path.join(root, "tests/fixtures"))
    args = parser.parse_args()
    if not args.graph and not os.path.exists(args.cnncc):
        args.graph = os.path.join(root, "tests/fixtures/lenet5_graph.json")
        print(f"note: {args.cnncc} not built; using {args.graph}")
    graph = load_graph(args.arch, args.cnncc, args.graph)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_u8, train_labels = fashion_mnist.load("train", args.data)
    test_u8, test_labels = fashion_mnist.load("t10k", args.data)
    as_tensor = lambda u8: torch.from_numpy(fashion_mnist.to_model_input(u8)).unsqueeze(1)
    model = LeNet5()
    start = time.monotonic()
    train(model, as_tensor(train_u8), torch.from_numpy(train_labels.astype(np.int64)),
          args.epochs, args.seed)
    seconds = time.monotonic() - start
    probs, figures = evaluate(model, as_tensor(test_u8), torch.from_numpy(test_labels.astype(np.int64)))
    print(f"trained in {seconds:.0f} s; test top-1 {figures['top1']:.4f}, top-5 {figures['top5']:.4f}")

    tensors = convert_state_dict(graph, model.state_dict())
    safetensors_io.save(args.out + ".safetensors", tensors)

    # The Keras-layout weights must give PyTorch's answers (checks the conversion).
    first = fashion_mnist.to_model_input(test_u8[:100])
    keras_probs = np.stack([numpy_keras.run(graph, tensors, {graph["inputs"][0]["name"]: img[:, :, None]})
                            for img in first])
    max_diff = float(np.abs(keras_probs - probs[:100]).max())
    print(f"NumPy Keras-layout run of the safetensors vs PyTorch, first 100: max |diff| {max_diff:.2e}")
    assert max_diff < 1e-5, "converted weights do not reproduce PyTorch"

    pred = probs[:100].argmax(axis=1)
    top2 = np.sort(probs[:100], axis=1)[:, -2:]
    record = {
        "model": "specs/lenet5.arch", "weights": os.path.basename(args.out) + ".safetensors",
        "dataset": "Fashion-MNIST t10k (10,000 images), 28x28 zero-padded to 32x32, pixel/255",
        "evaluated_with": f"PyTorch {torch.__version__}, float32",
        "seed": args.seed, "epochs": args.epochs, "threads": args.threads,
        "train_seconds": round(seconds, 1),
        "top1": figures["top1"], "top5": figures["top5"],
        "classes": fashion_mnist.CLASS_NAMES,
        "confusion_rows_true_cols_pred": figures["confusion"],
        "first100_pred": pred.tolist(),
        "first100_labels": test_labels[:100].tolist(),
        "first100_min_top2_margin": float((top2[:, 1] - top2[:, 0]).min()),
    }
    with open(args.out + ".json", "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    fixtures = {
        "fashion_first100.u8": test_u8[:100].tobytes(),
        "fashion_first100_labels.u8": test_labels[:100].tobytes(),
        "fashion_first100_pred.u8": pred.astype(np.uint8).tobytes(),
        "fashion_first100_probs.f32": probs[:100].astype("<f4").tobytes(),
    }
    for name, data in fixtures.items():
        with open(os.path.join(args.fixtures, name), "wb") as f:
            f.write(data)
    print(f"wrote {args.out}.safetensors, {args.out}.json and {len(fixtures)} fixtures")


if __name__ == "__main__":
    main()
