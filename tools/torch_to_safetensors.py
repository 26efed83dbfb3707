#!/usr/bin/python3
"""Convert a PyTorch state_dict to cnncc safetensors (Keras names and layouts).

    torch_to_safetensors.py MODEL.arch STATE.pt -o OUT.safetensors
                            [--cnncc build/cnncc | --graph MODEL.json]

The model's layers come from `cnncc --emit=json`; the state_dict's
parametrized modules (keys grouped by the prefix before the last dot, in
state_dict order) are matched to the model's weighted layers in order:

  conv2d               Conv2d.weight (O, I, kh, kw)     -> kernel (kh, kw, I, O)
  depthwise_conv2d     Conv2d(groups=C).weight (C*dm, 1, kh, kw)
                                                         -> depthwise_kernel (kh, kw, C, dm)
  separable_conv2d     two modules: the depthwise conv, then the 1x1 conv
                       (a depthwise bias is folded into the pointwise bias)
  dense                Linear.weight (out, in)          -> kernel (in, out); when the
                       dense reads flatten(H, W, C), the rows are reordered from
                       PyTorch's (C, H, W) flattening to Keras's (H, W, C)
  batch_normalization  weight, bias, running_mean, running_var
                                                         -> gamma, beta, moving_mean, moving_variance

num_batches_tracked is ignored. The state_dict cannot tell the BatchNorm
epsilon: build the PyTorch model with the eps the .arch uses (Keras: 1e-3).
Every shape is checked; a mismatch stops with a message naming the layer.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from arch_graph import (ConversionError, describe, flatten_input_shape,  # noqa: E402
                        load_graph, weighted_layers)


def group_state_dict(state_dict):
    """[(module prefix, {param name: float32 array})] in state_dict order."""
    groups = {}
    for key, value in state_dict.items():
        prefix, _, param = key.rpartition(".")
        if param == "num_batches_tracked":
            continue
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        groups.setdefault(prefix, {})[param] = np.asarray(value, dtype=np.float32)
    return list(groups.items())


def _kind(params):
    if "running_mean" in params:
        return "BatchNorm"
    weight = params.get("weight")
    if weight is None:
        return "module without weight"
    return {4: "Conv2d", 2: "Linear"}.get(weight.ndim, f"module with {weight.ndim}-d weight")


def _summary(prefix, params):
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in params.items())
    return f"PyTorch {_kind(params)} '{prefix}' ({shapes})"


class _Matcher:
    """Walks the state_dict groups while filling the model's layers."""

    def __init__(self, graph, groups, permute_flatten=True):
        self.graph = graph
        self.groups = groups
        self.next = 0
        self.permute_flatten = permute_flatten
        self.out = {}

    def take(self, layer, kind):
        if self.next >= len(self.groups):
            raise ConversionError(f"{describe(layer)}: the state_dict has no module left for it "
                                  f"(expected a {kind}; it has {len(self.groups)} modules)")
        prefix, params = self.groups[self.next]
        self.next += 1
        if _kind(params) != kind:
            raise ConversionError(f"{describe(layer)} expects a PyTorch {kind}, "
                                  f"got {_summary(prefix, params)}")
        return prefix, params

    def put(self, layer, var, value, source):
        expected = tuple(layer["weights"][var])
        if value.shape != expected:
            raise ConversionError(f"{describe(layer)}: {var} must have Keras shape {expected}, "
                                  f"{source} gives {value.shape}")
        self.out[f"{layer['name']}/{var}"] = np.ascontiguousarray(value, dtype=np.float32)

    def bias(self, layer, prefix, params, value=None):
        value = params.get("bias") if value is None else value
        wants = "bias" in layer["weights"]
        if wants and value is None:
            raise ConversionError(f"{describe(layer)} has use_bias=true but "
                                  f"{_summary(prefix, params)} has no bias")
        if not wants and value is not None and np.any(value != 0):
            raise ConversionError(f"{describe(layer)} has use_bias=false but "
                                  f"{_summary(prefix, params)} has a nonzero bias")
        if wants:
            self.put(layer, "bias", value, f"'{prefix}.bias'")

    def conv2d(self, layer):
        prefix, params = self.take(layer, "Conv2d")
        weight = params["weight"]
        expected = tuple(layer["weights"]["kernel"])
        if weight.shape != (expected[3], expected[2], expected[0], expected[1]):
            raise ConversionError(f"{describe(layer)}: kernel {expected} needs a Conv2d weight "
                                  f"{(expected[3], expected[2], expected[0], expected[1])}, "
                                  f"got {_summary(prefix, params)}")
        self.put(layer, "kernel", weight.transpose(2, 3, 1, 0), f"'{prefix}.weight'")
        self.bias(layer, prefix, params)

    def _depthwise(self, layer, var):
        prefix, params = self.take(layer, "Conv2d")
        kh, kw, channels, multiplier = layer["weights"][var]
        weight = params["weight"]
        if weight.shape != (channels * multiplier, 1, kh, kw):
            raise ConversionError(f"{describe(layer)}: {var} {(kh, kw, channels, multiplier)} needs a "
                                  f"depthwise Conv2d(groups={channels}) weight "
                                  f"{(channels * multiplier, 1, kh, kw)}, got {_summary(prefix, params)}")
        kernel = weight.reshape(channels, multiplier, kh, kw).transpose(2, 3, 0, 1)
        self.put(layer, var, kernel, f"'{prefix}.weight'")
        return prefix, params

    def depthwise_conv2d(self, layer):
        prefix, params = self._depthwise(layer, "depthwise_kernel")
        self.bias(layer, prefix, params)

    def separable_conv2d(self, layer):
        dw_prefix, dw_params = self._depthwise(layer, "depthwise_kernel")
        prefix, params = self.take(layer, "Conv2d")
        weight = params["weight"]
        _, _, inner, filters = layer["weights"]["pointwise_kernel"]
        if weight.shape != (filters, inner, 1, 1):
            raise ConversionError(f"{describe(layer)}: pointwise_kernel needs a 1x1 Conv2d weight "
                                  f"{(filters, inner, 1, 1)}, got {_summary(prefix, params)}")
        self.put(layer, "pointwise_kernel", weight.transpose(2, 3, 1, 0), f"'{prefix}.weight'")
        bias = params.get("bias")
        if "bias" in dw_params:  # pw(dw(x) + b) = pw(dw(x)) + W_pw b
            folded = weight[:, :, 0, 0] @ dw_params["bias"]
            bias = folded if bias is None else bias + folded
        self.bias(layer, prefix, params, bias)

    def dense(self, layer):
        prefix, params = self.take(layer, "Linear")
        weight = params["weight"]
        units = layer["weights"]["kernel"][1]
        hwc = flatten_input_shape(self.graph, layer) if self.permute_flatten else None
        if hwc and weight.shape == (units, int(np.prod(hwc))):
            h, w, c = hwc
            weight = weight.reshape(units, c, h, w).transpose(0, 2, 3, 1).reshape(units, -1)
        self.put(layer, "kernel", weight.T, f"'{prefix}.weight' transposed")
        self.bias(layer, prefix, params)

    def batch_normalization(self, layer):
        prefix, params = self.take(layer, "BatchNorm")
        channels = params["running_mean"].shape[0]
        defaults = {"weight": np.ones(channels, np.float32), "bias": np.zeros(channels, np.float32)}
        for var, param in (("gamma", "weight"), ("beta", "bias")):
            value = params.get(param, defaults[param])  # affine=False means gamma 1, beta 0
            if var in layer["weights"]:
                self.put(layer, var, value, f"'{prefix}.{param}'")
            elif np.any(value != defaults[param]):
                raise ConversionError(f"{describe(layer)} has no {var} (scale/center=false) but "
                                      f"'{prefix}.{param}' is not all {int(defaults[param][0])}")
        self.put(layer, "moving_mean", params["running_mean"], f"'{prefix}.running_mean'")
        self.put(layer, "moving_variance", params["running_var"], f"'{prefix}.running_var'")


def convert_state_dict(graph, state_dict, permute_flatten=True):
    """Map a state_dict onto the graph's weighted layers.

    Returns {"LAYER/VARIABLE": float32 array} in the model's order. Set
    permute_flatten=False if the PyTorch model already flattens (H, W, C).
    """
    matcher = _Matcher(graph, group_state_dict(state_dict), permute_flatten)
    for layer in weighted_layers(graph):
        convert = getattr(matcher, layer["op"], None)
        if convert is None:
            raise ConversionError(f"{describe(layer)}: no PyTorch mapping for op '{layer['op']}'")
        convert(layer)
    leftover = matcher.groups[matcher.next:]
    if leftover:
        names = ", ".join(f"'{prefix}'" for prefix, _ in leftover)
        raise ConversionError(f"the state_dict has {len(leftover)} parametrized module(s) more than "
                              f"the model's {len(weighted_layers(graph))} weighted layers: {names}")
    return matcher.out


def load_state_dict(path):
    import torch
    obj = torch.load(path, map_location="cpu")
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            return obj[key]
    return obj


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", help="the model's .arch file")
    parser.add_argument("state", help="PyTorch state_dict (.pt/.pth) saved with torch.save")
    parser.add_argument("-o", "--output", required=True, help="output .safetensors")
    parser.add_argument("--cnncc", default="build/cnncc", help="path to cnncc (default build/cnncc)")
    parser.add_argument("--graph", help="use this --emit=json output instead of running cnncc")
    parser.add_argument("--no-flatten-permute", action="store_true",
                        help="the PyTorch model already flattens in (H, W, C) order")
    args = parser.parse_args(argv)
    try:
        graph = load_graph(args.arch, args.cnncc, args.graph)
        tensors = convert_state_dict(graph, load_state_dict(args.state),
                                     permute_flatten=not args.no_flatten_permute)
        safetensors_io.save(args.output, tensors)
    except (ConversionError, OSError) as e:
        print(f"torch_to_safetensors: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(tensors)} tensors to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
