#!/usr/bin/python3
"""Build the six models of specs/*.arch in PyTorch and export them to ONNX.

Development-time tooling only (see README.md in this folder); run with
Debian's /usr/bin/python3 (PyTorch 1.13):

    /usr/bin/python3 bench/frameworks/make_models.py [OUTDIR] [MODEL...]

Writes OUTDIR/X.onnx (opset 13, input "image" NCHW (1, C, H, W), output
"probs"), OUTDIR/X.in.f32 (the seeded input) and OUTDIR/X.out.f32 (PyTorch's
output on it, so that ort_bench.js can check ONNX Runtime against it).
OUTDIR defaults to bench/frameworks/models.  Weights are PyTorch's default
random initialization (seed 0); the models are in eval mode.

Each model is checked against the counts of MODELS.md: PyTorch's trainable
parameters against Keras's trainable ones, and parameters + BN running
mean/var buffers against Keras's total.  Multiply-accumulates of Conv2d and
Linear are counted with forward hooks and printed beside cnncc's figure.

Padding follows Keras/TensorFlow exactly: padding="same" with an odd total
pads one more row/column at the bottom/right (ZeroPad2d before a valid conv,
or ceil_mode for a max pool whose extra row is at the end only); explicit
zero_padding2d layers are ZeroPad2d.  GoogLeNet's LRN is exported as ONNX's
LRN operator (what tf2onnx makes of a Keras/TF model); GOOGLENET_LRN=decomposed
exports PyTorch's own decomposition instead (Pow, Pad, AveragePool, Div, ...),
which ONNX Runtime runs faster than its LRN kernel.  Layouts differ (NCHW here, NHWC in
cnncc), so a flatten orders features differently: the cost is the same.
"""
import os
import sys

import torch
import torch.nn as nn

MODELS = ["lenet5", "alexnet", "vgg16", "googlenet", "resnet50", "mobilenet"]

# Keras counts of MODELS.md: (total, trainable, non-trainable).  GoogLeNet is
# built without its auxiliary heads (dropped at inference, as cnncc does), so
# its expected count is the main network's.
EXPECT = {
    "lenet5": (61706, 61706, 0),
    "alexnet": (58692452, 58691748, 704),
    "vgg16": (138357544, 138357544, 0),
    "googlenet": (6998552, 6998552, 0),
    "resnet50": (25636712, 25583592, 53120),
    "mobilenet": (4253864, 4231976, 21888),
}

INPUT = {
    "lenet5": (1, 32, 32),
    "alexnet": (3, 227, 227),
    "vgg16": (3, 224, 224),
    "googlenet": (3, 224, 224),
    "resnet50": (3, 224, 224),
    "mobilenet": (3, 224, 224),
}


def same_pads(size, k, s):
    """TensorFlow's padding="same": (before, after) for one dimension."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv_same(cin, cout, k, size, stride=1, bias=True, groups=1):
    """Conv2d with TF "same" padding for a square input of side `size`."""
    before, after = same_pads(size, k, stride)
    if before == after:
        return nn.Conv2d(cin, cout, k, stride, before, bias=bias, groups=groups)
    return nn.Sequential(nn.ZeroPad2d((before, after, before, after)),
                         nn.Conv2d(cin, cout, k, stride, 0, bias=bias, groups=groups))


def maxpool_same(k, s, size):
    """MaxPool2d with TF "same" padding (padding is ignored by the max)."""
    before, after = same_pads(size, k, s)
    if before == after:
        return nn.MaxPool2d(k, s, before)
    # TF puts the odd row at the end; ceil_mode gives exactly that window set
    # when nothing is padded at the beginning.
    assert before == 0 and after > 0, (size, k, s)
    return nn.MaxPool2d(k, s, 0, ceil_mode=True)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.Tanh(),
        nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10), nn.Softmax(dim=1))


def alexnet():
    bn = lambda c: nn.BatchNorm2d(c, eps=1e-3)  # Keras default epsilon
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, 4), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2), bn(96),
        nn.ZeroPad2d(2), nn.Conv2d(96, 256, 5), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2), bn(256),
        nn.ZeroPad2d(1), nn.Conv2d(256, 384, 3), nn.ReLU(inplace=True),
        nn.ZeroPad2d(1), nn.Conv2d(384, 384, 3), nn.ReLU(inplace=True),
        nn.ZeroPad2d(1), nn.Conv2d(384, 256, 3), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 100), nn.Softmax(dim=1))


def vgg16():
    layers, cin, size = [], 3, 224
    for cout, n in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(n):
            layers += [nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(inplace=True)]
            cin = cout
        layers.append(nn.MaxPool2d(2))
        size //= 2
    layers += [nn.Flatten(),
               nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True),
               nn.Linear(4096, 4096), nn.ReLU(inplace=True),
               nn.Linear(4096, 1000), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


class Inception(nn.Module):
    def __init__(self, cin, n1, n3r, n3, n5r, n5, pp):
        super().__init__()
        relu = lambda: nn.ReLU(inplace=True)
        self.b1 = nn.Sequential(nn.Conv2d(cin, n1, 1), relu())
        self.b2 = nn.Sequential(nn.Conv2d(cin, n3r, 1), relu(),
                                nn.Conv2d(n3r, n3, 3, 1, 1), relu())
        self.b3 = nn.Sequential(nn.Conv2d(cin, n5r, 1), relu(),
                                nn.Conv2d(n5r, n5, 5, 1, 2), relu())
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1),
                                nn.Conv2d(cin, pp, 1), relu())
        self.out_channels = n1 + n3 + n5 + pp

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class _LRNFunction(torch.autograd.Function):
    """F.local_response_norm, exported as ONNX's LRN operator (torch 1.13
    would otherwise export its decomposition: Pow, Pad, AveragePool, ...)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        return nn.functional.local_response_norm(x, size, alpha, beta, k)

    @staticmethod
    def symbolic(g, x, size, alpha, beta, k):
        return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


class LRN(nn.LocalResponseNorm):
    def forward(self, x):
        if os.environ.get("GOOGLENET_LRN") == "decomposed":
            return super().forward(x)
        return _LRNFunction.apply(x, self.size, self.alpha, self.beta, self.k)


def googlenet():
    """Main path only: the two auxiliary heads are dropped at inference."""
    # TF depth_radius=2, bias=1, alpha=2e-5 (per element), beta=0.75 is
    # PyTorch's / ONNX's LRN size=5, k=1, alpha=1e-4 (divided by size), 0.75.
    lrn = lambda: LRN(5, alpha=1e-4, beta=0.75, k=1.0)
    layers = [conv_same(3, 64, 7, 224, 2), nn.ReLU(inplace=True),
              maxpool_same(3, 2, 112), lrn(),
              nn.Conv2d(64, 64, 1), nn.ReLU(inplace=True),
              nn.Conv2d(64, 192, 3, 1, 1), nn.ReLU(inplace=True), lrn(),
              maxpool_same(3, 2, 56)]
    cin = 192
    table = [("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64),
             ("pool", 28),
             ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
             ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
             ("4e", 256, 160, 320, 32, 128, 128),
             ("pool", 14),
             ("5a", 256, 160, 320, 32, 128, 128), ("5b", 384, 192, 384, 48, 128, 128)]
    for row in table:
        if row[0] == "pool":
            layers.append(maxpool_same(3, 2, row[1]))
            continue
        m = Inception(cin, *row[1:])
        layers.append(m)
        cin = m.out_channels
    layers += [nn.AvgPool2d(7, 1), nn.Flatten(), nn.Dropout(0.4),
               nn.Linear(1024, 1000), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Keras ResNet50 (v1): stride on the first 1x1, biased convs, BN."""

    def __init__(self, cin, width, cout, stride, projection):
        super().__init__()
        bn = lambda c: nn.BatchNorm2d(c, eps=1.001e-5)
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride), bn(cout))
                         if projection else None)
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, stride), bn(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, 1, 1), bn(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1), bn(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        s = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.body(x) + s)


def resnet50():
    layers = [nn.ZeroPad2d(3), nn.Conv2d(3, 64, 7, 2),
              nn.BatchNorm2d(64, eps=1.001e-5), nn.ReLU(inplace=True),
              nn.ZeroPad2d(1), nn.MaxPool2d(3, 2)]
    cin = 64
    for i, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for b in range(blocks):
            stride = 2 if (b == 0 and i > 0) else 1
            layers.append(Bottleneck(cin, width, 4 * width, stride, b == 0))
            cin = 4 * width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(2048, 1000), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


def mobilenet():
    bn = lambda c: nn.BatchNorm2d(c, eps=1e-3)  # Keras default epsilon
    relu6 = lambda: nn.ReLU6(inplace=True)
    layers = [conv_same(3, 32, 3, 224, 2, bias=False), bn(32), relu6()]
    cin, size = 32, 112
    for cout, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1),
                         (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
                         (512, 1), (1024, 2), (1024, 1)]:
        if stride == 2:  # Keras: zero_padding2d(((0, 1), (0, 1))) then valid
            layers += [nn.ZeroPad2d((0, 1, 0, 1)),
                       nn.Conv2d(cin, cin, 3, 2, 0, groups=cin, bias=False)]
            size //= 2
        else:
            layers.append(nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False))
        layers += [bn(cin), relu6(),
                   nn.Conv2d(cin, cout, 1, bias=False), bn(cout), relu6()]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.001),
               nn.Linear(1024, 1000), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


BUILDERS = {"lenet5": lenet5, "alexnet": alexnet, "vgg16": vgg16,
            "googlenet": googlenet, "resnet50": resnet50, "mobilenet": mobilenet}


def build(name):
    """The model in eval mode with seeded default-initialized weights."""
    torch.manual_seed(0)
    return BUILDERS[name]().eval()


def example_input(name):
    g = torch.Generator().manual_seed(1)
    return torch.rand((1,) + INPUT[name], generator=g) * 2 - 1


def counts(model):
    trainable = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for n, b in model.named_buffers()
                if n.endswith("running_mean") or n.endswith("running_var"))
    return trainable + stats, trainable, stats


def count_macs(model, x):
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            total[0] += out.numel() * k
        elif isinstance(m, nn.Linear):
            total[0] += out.numel() * m.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.inference_mode():
        model(x)
    for h in hs:
        h.remove()
    return total[0]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = sys.argv[1:]
    outdir = os.path.join(here, "models")
    if args and args[0] not in BUILDERS:
        outdir = args.pop(0)
    names = args or MODELS
    os.makedirs(outdir, exist_ok=True)
    ok = True
    print("%-10s %12s %12s %8s %16s  %s" % ("model", "params", "trainable", "non_tr", "MACs", "check"))
    for name in names:
        model = build(name)
        x = example_input(name)
        total, trainable, stats = counts(model)
        macs = count_macs(model, x)
        good = (total, trainable, stats) == EXPECT[name]
        ok &= good
        print("%-10s %12d %12d %8d %16d  %s" % (
            name, total, trainable, stats, macs,
            "ok" if good else "MISMATCH, expected %s" % (EXPECT[name],)))
        with torch.inference_mode():
            y = model(x)
        assert torch.isfinite(y).all(), name
        path = os.path.join(outdir, name + ".onnx")
        torch.onnx.export(model, x, path, opset_version=13,
                          input_names=["image"], output_names=["probs"],
                          do_constant_folding=True)
        x.numpy().astype("<f4").tofile(os.path.join(outdir, name + ".in.f32"))
        y.numpy().astype("<f4").tofile(os.path.join(outdir, name + ".out.f32"))
    if not ok:
        sys.exit("make_models.py: parameter counts differ from MODELS.md")


if __name__ == "__main__":
    main()
