"""Fashion-MNIST as the training script and the demo see it.

The Debian package dataset-fashion-mnist ships the original gzipped IDX
files. Images become the model's (32, 32, 1) input by zero-padding 2 pixels
on each side and scaling to [0, 1] (pixel / 255); examples/fashion_mnist.c
does exactly the same.
"""

import gzip
import os
import struct

import numpy as np

DATASET_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """Read an IDX file (gzipped or not) of unsigned bytes as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(kind, directory=DATASET_DIR):
    """(images (N, 28, 28) uint8, labels (N,) uint8) for kind 'train' or 't10k'."""
    images = read_idx(os.path.join(directory, f"{kind}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(directory, f"{kind}-labels-idx1-ubyte.gz"))
    return images, labels


def to_model_input(images):
    """(N, 28, 28) uint8 -> (N, 32, 32) float32 in [0, 1], zero-padded by 2."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return padded.astype(np.float32) / np.float32(255)
