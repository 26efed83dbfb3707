#!/usr/bin/python3
"""Convert Keras HDF5 weights to cnncc safetensors.

    keras_h5_to_safetensors.py MODEL.arch WEIGHTS.h5 -o OUT.safetensors
                               [--cnncc build/cnncc | --graph MODEL.json]

Reads the Keras 2 layout written by `model.save_weights("w.h5")` (and the
`model_weights` group of a full `model.save("m.h5")`): the root attribute
`layer_names` lists the layers, each layer group's `weight_names` attribute
lists its datasets ("conv2d/kernel:0", ...). The Keras 3 `.weights.h5`
layout (`layers/NAME/vars/0, 1, ...`) is read too, by position.

Keras layouts are cnncc's layouts, so values are copied unchanged. Layers
are matched by name when every weighted layer of the model is in the file,
otherwise in order; variables by name, or by position in Keras's order when
the names differ. Every shape is checked against `cnncc --emit=json`.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from arch_graph import ConversionError, describe, load_graph, weighted_layers  # noqa: E402

# Keras's order of each layer's variables (what position means in Keras 3 files).
_ORDER = {
    "conv2d": ["kernel", "bias"],
    "depthwise_conv2d": ["depthwise_kernel", "bias"],
    "separable_conv2d": ["depthwise_kernel", "pointwise_kernel", "bias"],
    "dense": ["kernel", "bias"],
    "batch_normalization": ["gamma", "beta", "moving_mean", "moving_variance"],
}


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def read_h5_layers(path):
    """[(layer name, [(variable name, float32 array)])] for layers with weights, in file order."""
    import h5py
    layers = []
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in root.attrs:  # Keras 2
            for name in map(_text, root.attrs["layer_names"]):
                group = root[name]
                weights = [(_text(w).split("/")[-1].split(":")[0], np.asarray(group[_text(w)], np.float32))
                           for w in group.attrs.get("weight_names", [])]
                if weights:
                    layers.append((name, weights))
        elif "layers" in root:  # Keras 3 .weights.h5
            for name, group in root["layers"].items():
                vars_ = group.get("vars", {})
                weights = [(key, np.asarray(vars_[key], np.float32)) for key in sorted(vars_, key=int)]
                if weights:
                    layers.append((name, weights))
        else:
            raise ConversionError(f"{path}: no Keras weights found (neither a 'layer_names' "
                                  "attribute nor a 'layers' group)")
    return layers


def _match_layers(graph, h5_layers):
    model = weighted_layers(graph)
    by_name = dict(h5_layers)
    if all(layer["name"] in by_name for layer in model):
        extra = sorted(set(by_name) - {layer["name"] for layer in model})
        if extra:
            raise ConversionError(f"the weights file has layers the model does not: {', '.join(extra)}")
        return [(layer, layer["name"], by_name[layer["name"]]) for layer in model]
    if len(h5_layers) != len(model):
        missing = [layer["name"] for layer in model if layer["name"] not in by_name]
        raise ConversionError(f"the model has {len(model)} weighted layers, the weights file "
                              f"{len(h5_layers)}; names differ (not in file: {', '.join(missing)}), "
                              "so they cannot be matched in order")
    return [(layer, name, weights) for layer, (name, weights) in zip(model, h5_layers)]


def _variables(layer, h5_name, weights):
    expected = [var for var in _ORDER.get(layer["op"], list(layer["weights"])) if var in layer["weights"]]
    names = [name for name, _ in weights]
    if sorted(names) == sorted(expected):
        return dict(weights)
    if len(weights) == len(expected):
        return {var: value for var, (_, value) in zip(expected, weights)}
    raise ConversionError(f"{describe(layer)} needs {', '.join(expected)}; "
                          f"file layer '{h5_name}' has {', '.join(names)}")


def convert_h5(graph, h5_layers):
    """Map read_h5_layers() output onto the graph; return {"LAYER/VAR": array}."""
    out = {}
    for layer, h5_name, weights in _match_layers(graph, h5_layers):
        variables = _variables(layer, h5_name, weights)
        for var, shape in layer["weights"].items():
            if variables[var].shape != tuple(shape):
                raise ConversionError(f"{describe(layer)}: {var} must have shape {tuple(shape)}, "
                                      f"file layer '{h5_name}' gives {variables[var].shape}")
            out[f"{layer['name']}/{var}"] = variables[var]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", help="the model's .arch file")
    parser.add_argument("h5", help="Keras weights (.h5)")
    parser.add_argument("-o", "--output", required=True, help="output .safetensors")
    parser.add_argument("--cnncc", default="build/cnncc", help="path to cnncc (default build/cnncc)")
    parser.add_argument("--graph", help="use this --emit=json output instead of running cnncc")
    args = parser.parse_args(argv)
    try:
        graph = load_graph(args.arch, args.cnncc, args.graph)
        tensors = convert_h5(graph, read_h5_layers(args.h5))
        safetensors_io.save(args.output, tensors)
    except (ConversionError, OSError) as e:
        print(f"keras_h5_to_safetensors: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(tensors)} tensors to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
