"""The model graph as cnncc sees it, for the weight converters.

The converters never parse .arch files themselves: they ask the compiler
(`cnncc --emit=json`, SPEC §6) for the checked, inlined graph, so layer
names, order and weight shapes are exactly the ones cnncc will load. A
pre-emitted JSON file can stand in for the compiler (`--graph`), which is
what tests and the training script use when cnncc is not built.
"""

import json
import os
import subprocess


class ConversionError(Exception):
    """A weight file does not fit the model; the message names the layer."""


def load_graph(arch=None, cnncc="build/cnncc", graph_json=None):
    """Return the parsed --emit=json graph of `arch` (or read `graph_json`)."""
    if graph_json:
        with open(graph_json) as f:
            return json.load(f)
    if not os.path.exists(cnncc):
        raise ConversionError(f"{cnncc} not found: build it with `make`, pass --cnncc PATH, "
                              "or give a pre-emitted graph with --graph FILE.json")
    run = subprocess.run([cnncc, "--emit=json", arch], capture_output=True, text=True)
    if run.returncode != 0:
        raise ConversionError(f"{cnncc} --emit=json {arch} failed (exit {run.returncode}):\n"
                              + run.stderr.rstrip())
    return json.loads(run.stdout)


def weighted_layers(graph):
    """The layers that own weights, in program order."""
    return [layer for layer in graph["layers"] if layer.get("weights")]


def _shapes(graph):
    shapes = {inp["name"]: inp["shape"] for inp in graph["inputs"]}
    shapes.update({layer["name"]: layer["shape"] for layer in graph["layers"]})
    return shapes


# Layers that pass a rank-1 tensor through unchanged in order.
_ELEMENTWISE = {"dropout", "activation", "relu"}


def flatten_input_shape(graph, layer):
    """If `layer` (a dense) reads a flatten of an (H, W, C) tensor, return
    (H, W, C), else None. Elementwise layers in between are looked through."""
    by_name = {l["name"]: l for l in graph["layers"]}
    shapes = _shapes(graph)
    source = by_name.get(layer["inputs"][0])
    while source is not None and source["op"] in _ELEMENTWISE:
        source = by_name.get(source["inputs"][0])
    if source is None or source["op"] != "flatten":
        return None
    shape = shapes[source["inputs"][0]]
    return tuple(shape) if len(shape) == 3 else None


def describe(layer):
    return f"{layer['op']} '{layer['name']}'"
