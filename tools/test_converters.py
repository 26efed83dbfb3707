#!/usr/bin/python3
"""Tests of the weight tools: safetensors I/O, PyTorch and Keras-h5 converters.

    /usr/bin/python3 tools/test_converters.py [-v]

The model is tests/fixtures/convert_small.arch (conv, batch norm, depthwise
with a multiplier, flatten, dense). Its graph comes from build/cnncc when it
is built (and is then compared with tests/fixtures/convert_small.json),
otherwise from that JSON. Converted values are checked element by element
with explicit index formulas, and end to end by running the Keras-layout
graph in NumPy against PyTorch's own output. Tests needing torch or h5py
are skipped, with the reason, when those are not installed.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    print("test_converters: SKIP: numpy is not installed")
    sys.exit(0)
try:
    import torch
except ImportError:
    torch = None
try:
    import h5py
except ImportError:
    h5py = None

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
CNNCC = os.environ.get("CNNCC", os.path.join(ROOT, "build", "cnncc"))
sys.path.insert(0, TOOLS)
import keras_h5_to_safetensors as k2s  # noqa: E402
import numpy_keras  # noqa: E402
import safetensors_io  # noqa: E402
import torch_to_safetensors as t2s  # noqa: E402
from arch_graph import ConversionError, load_graph  # noqa: E402

ARCH = os.path.join(FIXTURES, "convert_small.arch")
GRAPH_JSON = os.path.join(FIXTURES, "convert_small.json")
NEED_TORCH = unittest.skipUnless(torch, "PyTorch is not installed (Debian: python3-torch)")
NEED_H5PY = unittest.skipUnless(h5py, "h5py is not installed (Debian: python3-h5py)")


def quiet_main(main, argv):
    """Run a converter's main() with its messages captured; return (status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        return main(argv), err.getvalue()


def small_graph():
    if os.path.exists(CNNCC):
        return load_graph(ARCH, CNNCC)
    return load_graph(graph_json=GRAPH_JSON)


class SafetensorsTest(unittest.TestCase):
    def test_round_trip_and_alignment(self):
        tensors = {"b/kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "a/bias": [1.5]}
        data = safetensors_io.encode(tensors, {"format": "cnncc"})
        header_len = int.from_bytes(data[:8], "little")
        self.assertEqual(header_len % 8, 0)
        self.assertEqual(len(data), 8 + header_len + 7 * 4)
        back, meta = safetensors_io.decode(data)
        self.assertEqual(list(back), ["b/kernel", "a/bias"])
        np.testing.assert_array_equal(back["b/kernel"], tensors["b/kernel"])
        self.assertEqual(back["a/bias"].tolist(), [1.5])
        self.assertEqual(meta, {"format": "cnncc"})

    def test_f16_and_bf16_widen(self):
        values = np.array([1.0, -2.5, 0.125], np.float32)
        blobs = [values.astype("<f2").tobytes(), (values.view(np.uint32) >> 16).astype("<u2").tobytes()]
        header = json.dumps({"h": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]},
                             "b": {"dtype": "BF16", "shape": [3], "data_offsets": [6, 12]}}).encode()
        back, _ = safetensors_io.decode(len(header).to_bytes(8, "little") + header + b"".join(blobs))
        np.testing.assert_array_equal(back["h"], values)
        np.testing.assert_array_equal(back["b"], values)

    def test_bad_files_are_errors(self):
        for data in (b"", b"\xff" * 8 + b"{}", b"\x02\0\0\0\0\0\0\0{x",
                     b"\x30\0\0\0\0\0\0\0" + b'{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}'):
            with self.assertRaises(safetensors_io.SafetensorsError):
                safetensors_io.decode(data)


@unittest.skipUnless(os.path.exists(CNNCC), f"{CNNCC} is not built")
class GraphFixtureTest(unittest.TestCase):
    def test_fixture_json_matches_cnncc(self):
        """The hand-written graphs used without cnncc must agree with cnncc."""
        for arch, fixture in ((ARCH, GRAPH_JSON),
                              (os.path.join(ROOT, "specs", "lenet5.arch"),
                               os.path.join(FIXTURES, "lenet5_graph.json"))):
            emitted = load_graph(arch, CNNCC)
            written = load_graph(graph_json=fixture)
            pick = lambda g: [(l["name"], l["op"], l["inputs"], l["shape"], l.get("weights", {}))
                              for l in g["layers"]]
            self.assertEqual(pick(emitted), pick(written), fixture)


def small_torch_model():
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(4, eps=1e-3),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 8, 3, groups=4),
        torch.nn.BatchNorm2d(8, eps=1e-3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(160, 5),
    )
    with torch.no_grad():  # make every batch-norm variable distinct and nontrivial
        for bn in (model[1], model[4]):
            n = bn.num_features
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.num_batches_tracked.fill_(7 + n)
    return model.eval()


@NEED_TORCH
class TorchConverterTest(unittest.TestCase):
    def setUp(self):
        self.graph = small_graph()
        self.model = small_torch_model()
        self.sd = {k: v.numpy() for k, v in self.model.state_dict().items()}
        self.out = t2s.convert_state_dict(self.graph, self.model.state_dict())

    def test_names_and_shapes(self):
        self.assertEqual({k: v.shape for k, v in self.out.items()}, {
            "conv2d/kernel": (3, 3, 3, 4),
            "batch_normalization/gamma": (4,), "batch_normalization/beta": (4,),
            "batch_normalization/moving_mean": (4,), "batch_normalization/moving_variance": (4,),
            "depthwise_conv2d/depthwise_kernel": (3, 3, 4, 2), "depthwise_conv2d/bias": (8,),
            "batch_normalization_1/gamma": (8,), "batch_normalization_1/beta": (8,),
            "batch_normalization_1/moving_mean": (8,), "batch_normalization_1/moving_variance": (8,),
            "dense/kernel": (160, 5), "dense/bias": (5,)})

    def test_values_land_in_keras_places(self):
        out, sd = self.out, self.sd
        for i in range(3):
            for j in range(3):
                for ci in range(3):
                    for co in range(4):
                        self.assertEqual(out["conv2d/kernel"][i, j, ci, co], sd["0.weight"][co, ci, i, j])
                for c in range(4):
                    for m in range(2):  # PyTorch groups: output channel c*dm + m
                        self.assertEqual(out["depthwise_conv2d/depthwise_kernel"][i, j, c, m],
                                         sd["3.weight"][c * 2 + m, 0, i, j])
        height, width, channels = 5, 4, 8
        for h in range(height):
            for w in range(width):
                for c in range(channels):
                    keras_row = (h * width + w) * channels + c
                    torch_col = (c * height + h) * width + w
                    np.testing.assert_array_equal(out["dense/kernel"][keras_row], sd["8.weight"][:, torch_col])
        for keras, torch_name in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                                  ("moving_variance", "running_var")):
            np.testing.assert_array_equal(out[f"batch_normalization/{keras}"], sd[f"1.{torch_name}"])
            np.testing.assert_array_equal(out[f"batch_normalization_1/{keras}"], sd[f"4.{torch_name}"])
        np.testing.assert_array_equal(out["depthwise_conv2d/bias"], sd["3.bias"])
        np.testing.assert_array_equal(out["dense/bias"], sd["8.bias"])

    def test_keras_layout_reproduces_pytorch(self):
        x = torch.rand(1, 3, 7, 6, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            expected = torch.softmax(self.model(x), dim=1)[0].numpy()
        got = numpy_keras.run(self.graph, self.out, {"image": x[0].permute(1, 2, 0).numpy()})
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            state, out = os.path.join(tmp, "m.pt"), os.path.join(tmp, "m.safetensors")
            torch.save(self.model.state_dict(), state)
            graph_args = ["--cnncc", CNNCC] if os.path.exists(CNNCC) else ["--graph", GRAPH_JSON]
            self.assertEqual(quiet_main(t2s.main, [ARCH, state, "-o", out] + graph_args), (0, ""))
            written = safetensors_io.load(out)
        self.assertEqual(list(written), list(self.out))
        for name, value in self.out.items():
            np.testing.assert_array_equal(written[name], value)

    def assert_fails(self, state_dict, *words):
        with self.assertRaises(ConversionError) as caught:
            t2s.convert_state_dict(self.graph, state_dict)
        for word in words:
            self.assertIn(word, str(caught.exception))

    def test_mismatches_name_the_layer(self):
        sd = self.model.state_dict()
        wrong_filters = dict(sd, **{"0.weight": torch.zeros(5, 3, 3, 3)})
        self.assert_fails(wrong_filters, "conv2d 'conv2d'", "(5, 3, 3, 3)")
        self.assert_fails(dict(sd, **{"0.bias": torch.ones(4)}), "conv2d 'conv2d'", "use_bias=false")
        not_depthwise = dict(sd, **{"3.weight": torch.zeros(8, 4, 3, 3)})
        self.assert_fails(not_depthwise, "depthwise_conv2d 'depthwise_conv2d'", "groups=4")
        self.assert_fails(dict(sd, **{"8.weight": torch.zeros(5, 161)}), "dense 'dense'", "(161, 5)")
        self.assert_fails({k: v for k, v in sd.items() if not k.startswith("8.")},
                          "dense 'dense'", "no module left")
        self.assert_fails(dict(sd, **{"9.weight": torch.zeros(2, 5), "9.bias": torch.zeros(2)}), "'9'")
        no_bn = {k: v for k, v in sd.items() if not k.startswith("1.")}
        self.assert_fails(no_bn, "batch_normalization 'batch_normalization'", "BatchNorm", "'3'")

    def test_separable_folds_depthwise_bias(self):
        graph = {"inputs": [{"name": "x", "shape": [5, 5, 2]}], "outputs": ["sep"], "layers": [
            {"name": "sep", "op": "separable_conv2d", "inputs": ["x"], "shape": [3, 3, 4],
             "attrs": {"kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "depth_multiplier": 3,
                       "activation": "linear", "use_bias": True},
             "weights": {"depthwise_kernel": [3, 3, 2, 3], "pointwise_kernel": [1, 1, 6, 4], "bias": [4]}}]}
        torch.manual_seed(4)
        model = torch.nn.Sequential(torch.nn.Conv2d(2, 6, 3, groups=2), torch.nn.Conv2d(6, 4, 1)).eval()
        out = t2s.convert_state_dict(graph, model.state_dict())
        x = torch.rand(1, 2, 5, 5)
        with torch.no_grad():
            expected = model(x)[0].permute(1, 2, 0).numpy()
        got = numpy_keras.run(graph, out, {"x": x[0].permute(1, 2, 0).numpy()})
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def keras_weights(graph, seed=0):
    """Random values in Keras layout for every weight of the graph: {layer: [(var, array)]}."""
    rng = np.random.default_rng(seed)
    return {layer["name"]: [(var, rng.standard_normal(shape).astype(np.float32))
                            for var, shape in layer["weights"].items()]
            for layer in graph["layers"] if layer.get("weights")}


def write_keras2_h5(path, layers, rename=None, full_model=False):
    """Write the Keras 2 save_weights layout; layers without weights are listed too."""
    rename = rename or {}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if full_model else f
        names = ["image", *layers, "re_lu", "flatten", "dropout"]
        names = [rename.get(n, n) for n in names]
        root.attrs["layer_names"] = np.array([n.encode() for n in names])
        root.attrs["backend"] = b"tensorflow"
        for name in names:
            group = root.create_group(name)
            weights = layers.get(next((k for k, v in rename.items() if v == name), name), [])
            weight_names = [f"{name}/{var}:0" for var, _ in weights]
            group.attrs["weight_names"] = np.array([w.encode() for w in weight_names])
            for weight_name, (_, value) in zip(weight_names, weights):
                group.create_dataset(weight_name, data=value)


@NEED_H5PY
class KerasConverterTest(unittest.TestCase):
    def setUp(self):
        self.graph = small_graph()
        self.layers = keras_weights(self.graph)
        self.tmp = tempfile.TemporaryDirectory()
        self.h5 = os.path.join(self.tmp.name, "w.h5")

    def tearDown(self):
        self.tmp.cleanup()

    def assert_copied(self, out):
        expected = {f"{layer}/{var}": value for layer, weights in self.layers.items() for var, value in weights}
        self.assertEqual(sorted(out), sorted(expected))
        for name, value in expected.items():
            np.testing.assert_array_equal(out[name], value)

    def test_by_name(self):
        write_keras2_h5(self.h5, self.layers)
        self.assert_copied(k2s.convert_h5(self.graph, k2s.read_h5_layers(self.h5)))

    def test_full_model_file_and_command_line(self):
        write_keras2_h5(self.h5, self.layers, full_model=True)
        out = os.path.join(self.tmp.name, "w.safetensors")
        graph_args = ["--cnncc", CNNCC] if os.path.exists(CNNCC) else ["--graph", GRAPH_JSON]
        self.assertEqual(quiet_main(k2s.main, [ARCH, self.h5, "-o", out] + graph_args), (0, ""))
        self.assert_copied(safetensors_io.load(out))

    def test_in_order_when_names_differ(self):
        rename = {"conv2d": "conv2d_7", "batch_normalization": "bn_a", "depthwise_conv2d": "dw",
                  "batch_normalization_1": "bn_b", "dense": "predictions"}
        write_keras2_h5(self.h5, self.layers, rename)
        self.assert_copied(k2s.convert_h5(self.graph, k2s.read_h5_layers(self.h5)))

    def test_keras3_layout(self):
        with h5py.File(self.h5, "w") as f:
            for name, weights in self.layers.items():
                group = f.create_group(f"layers/{name}/vars")
                for index, (_, value) in enumerate(weights):
                    group.create_dataset(str(index), data=value)
        self.assert_copied(k2s.convert_h5(self.graph, k2s.read_h5_layers(self.h5)))

    def test_mismatches_name_the_layer(self):
        bad = dict(self.layers)
        bad["dense"] = [("kernel", np.zeros((161, 5), np.float32)), ("bias", np.zeros(5, np.float32))]
        write_keras2_h5(self.h5, bad)
        with self.assertRaisesRegex(ConversionError, r"dense 'dense': kernel .*\(160, 5\).*\(161, 5\)"):
            k2s.convert_h5(self.graph, k2s.read_h5_layers(self.h5))
        missing = {k: v for k, v in self.layers.items() if k != "batch_normalization_1"}
        write_keras2_h5(self.h5, missing)
        with self.assertRaisesRegex(ConversionError, "batch_normalization_1"):
            k2s.convert_h5(self.graph, k2s.read_h5_layers(self.h5))

    def test_not_keras_file(self):
        with h5py.File(self.h5, "w") as f:
            f.create_dataset("x", data=[1.0])
        out = os.path.join(self.tmp.name, "w.safetensors")
        status, err = quiet_main(k2s.main, [ARCH, self.h5, "-o", out, "--graph", GRAPH_JSON])
        self.assertEqual(status, 1)
        self.assertIn("no Keras weights found", err)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    for module, package in ((torch, "python3-torch"), (h5py, "python3-h5py")):
        if module is None:
            print(f"test_converters: SKIP tests needing {package} (not installed)", file=sys.stderr)
    unittest.main()
