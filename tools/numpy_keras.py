"""A tiny channels-last NumPy interpreter of cnncc's JSON graph.

It reads weights in Keras names and layouts (what cnncc loads), so running
it on converted weights and comparing with the framework's own output
checks the converters independently of PyTorch's layouts. Float64, batch 1,
clarity over speed; only the ops the tests and LeNet-5 need.
"""

import numpy as np


def _pads(size, k_eff, stride, padding):
    if padding == "valid":
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def _pad_hw(x, kernel, strides, dilation, padding):
    (kh, kw), (dh, dw) = kernel, dilation
    top, bottom = _pads(x.shape[0], (kh - 1) * dh + 1, strides[0], padding)
    left, right = _pads(x.shape[1], (kw - 1) * dw + 1, strides[1], padding)
    return np.pad(x, ((top, bottom), (left, right), (0, 0)))


def _windows(x, kernel, strides, dilation):
    """Yield (i, j, view) with view[oy, ox, c] = x[oy*s + i*d, ox*s + j*d, c]."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilation
    out_h = (x.shape[0] - (kh - 1) * dh - 1) // sh + 1
    out_w = (x.shape[1] - (kw - 1) * dw - 1) // sw + 1
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i, j, x[y0:y0 + (out_h - 1) * sh + 1:sh, x0:x0 + (out_w - 1) * sw + 1:sw, :]


def _activation(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "relu6":
        return np.clip(x, 0, 6)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise NotImplementedError(f"activation {name}")


def _conv(x, a, w):
    k = w["kernel"]
    x = _pad_hw(x, a["kernel_size"], a["strides"], a["dilation_rate"], a["padding"])
    out = sum(view @ k[i, j] for i, j, view in _windows(x, a["kernel_size"], a["strides"], a["dilation_rate"]))
    return out + w.get("bias", 0)


def _depthwise(x, a, k):
    """k is (kh, kw, C, dm); output channel c*dm + m; no bias."""
    dilation = a.get("dilation_rate", [1, 1])
    x = _pad_hw(x, a["kernel_size"], a["strides"], dilation, a["padding"])
    out = sum(view[..., :, None] * k[i, j] for i, j, view in _windows(x, a["kernel_size"], a["strides"], dilation))
    return out.reshape(out.shape[0], out.shape[1], -1)


def _pool(x, a, reduce):
    x = _pad_hw(x, a["pool_size"], a["strides"], [1, 1], a["padding"])
    views = [view for _, _, view in _windows(x, a["pool_size"], a["strides"], [1, 1])]
    return reduce(np.stack(views), axis=0)


def run_layer(layer, inputs, weights):
    op, a, x = layer["op"], layer.get("attrs", {}), inputs[0]
    w = {var: weights[f"{layer['name']}/{var}"].astype(np.float64) for var in layer.get("weights", {})}
    if op == "conv2d":
        y = _conv(x, a, w)
    elif op == "depthwise_conv2d":
        y = _depthwise(x, a, w["depthwise_kernel"]) + w.get("bias", 0)
    elif op == "separable_conv2d":
        y = _depthwise(x, a, w["depthwise_kernel"]) @ w["pointwise_kernel"][0, 0] + w.get("bias", 0)
    elif op == "dense":
        y = x @ w["kernel"] + w.get("bias", 0)
    elif op == "batch_normalization":
        scale = w.get("gamma", 1) / np.sqrt(w["moving_variance"] + a.get("epsilon", 1e-3))
        y = (x - w["moving_mean"]) * scale + w.get("beta", 0)
    elif op == "average_pooling2d" and a["padding"] == "valid":
        y = _pool(x, a, np.mean)
    elif op == "max_pooling2d" and a["padding"] == "valid":
        y = _pool(x, a, np.max)
    elif op == "flatten":
        y = x.reshape(-1)
    elif op == "dropout":
        y = x
    elif op == "relu" and a.get("max_value") is None and not a.get("negative_slope"):
        y = np.maximum(x, 0)
    elif op == "activation":
        y = _activation(x, a.get("activation", a.get("function")))
    else:
        raise NotImplementedError(f"numpy_keras: op {op} with attrs {a}")
    return _activation(y, a.get("activation")) if op != "activation" else y


def run(graph, weights, inputs):
    """Run the graph on {input name: (H, W, C) array}; return the first output."""
    values = {name: np.asarray(v, dtype=np.float64) for name, v in inputs.items()}
    for layer in graph["layers"]:
        values[layer["name"]] = run_layer(layer, [values[n] for n in layer["inputs"]], weights)
    return values[graph["outputs"][0]]
