"""3x3 stride-1 convolutions whose channels are whole blocks, which the runtime runs by
Winograd's algorithm (its own F(2x2, 3x3) and F(4x4, 3x3), or oneDNN's F(4x4, 3x3) on
AVX-512 with more than 128 channels), against PyTorch: channels 16 to 256, sizes that
leave partial tiles, padding 0, 1 and "same", bias or not, relu, a skip tensor; batches 1,
3 and 8, so that one model.so runs F(2x2) (fewer than 32 tiles of 4x4) and F(4x4) call by
call; and the largest batch again with an outlier in its input, and with a hot spot (3x3
pixels, every channel, a thousand times the rest), whose tiles F(4x4) gives the direct sums
(its rounding, relative to the whole 6x6 patch, would reach outputs that do not read them).

Tolerance per element: 1e-5 of its error scale, plus 1e-6. The scale is the sum over the
window of each input's magnitude times the largest tap of its filter: the transforms mix a
filter's taps, so an input's rounding is relative to those (an outlier times a small tap
comes out as exact as the outlier times the largest). F(4x4)'s rounding error is about 1e-6
of that, PyTorch's float32 about 1e-7."""
import numpy as np
import torch
import torch.nn.functional as F

import harness as h

# (name, channels in, out, height, width, padding, bias, relu, skip)
CASES = [
    ("cnn", 16, 32, 14, 14, "1", True, True, False),
    ("res64", 64, 64, 9, 13, "1", False, True, True),
    ("valid", 32, 48, 16, 16, "0", False, False, False),
    ("same128", 128, 128, 7, 7, '"same"', True, False, False),
    ("wide", 64, 80, 20, 11, "1", True, True, False),
    ("deep", 256, 256, 6, 6, "1", True, False, False),
]

wd = h.workdir()
rng = np.random.RandomState(11)
torch.manual_seed(11)
for name, c, k, hh, ww, pad, bias, relu, skip in CASES:
    conv = torch.nn.Conv2d(c, k, 3, padding=1 if pad == '"same"' else int(pad), bias=bias)
    attrs = "%d, 3" % k + ("" if pad == "0" else ", padding = %s" % pad) + ("" if bias else ", bias = false")
    expr = "conv2d(x, %s, name = \"conv\")" % attrs
    if skip:
        expr = "%s + x" % expr
    if relu:
        expr = "relu(%s)" % expr
    src = "model W {\n  input x: f32[N, %d, %d, %d]\n  output y = %s\n}\n" % (c, hh, ww, expr)
    so, weights = h.compile_with_weights(src, torch.nn.ModuleDict({"conv": conv}), wd)
    w = conv.weight.detach().double()
    for batch, spike in ((1, ""), (3, ""), (8, ""), (8, "an outlier"), (8, "a hot spot")):
        x = rng.randn(batch, c, hh, ww).astype(np.float32)
        if spike == "an outlier":
            x[batch - 1, c // 2, hh // 2, ww // 3] = 1e5
        elif spike:
            x[batch - 1, :, hh // 2 - 1:hh // 2 + 2, ww // 3:ww // 3 + 3] *= 1e3
        xt = torch.from_numpy(x).double()
        with torch.no_grad():
            want = F.conv2d(xt, w, conv.bias.detach().double() if bias else None, padding=conv.padding)
            taps = w.abs().amax(dim=(2, 3), keepdim=True).expand_as(w)
            scale = F.conv2d(xt.abs(), taps, padding=conv.padding)
            if skip:
                want = want + xt
                scale = scale + xt.abs()
            if relu:
                want = torch.relu(want)
        got = h.infer(so, {"x": x}, weights=weights, wd=wd)["y"].astype(np.float64)
        err = np.abs(got - want.numpy())
        bound = 1e-5 * scale.numpy() + 1e-6
        what = "%s (%d -> %d, %dx%d, padding %s) b%d%s" % (name, c, k, hh, ww, pad, batch,
                                                          " with " + spike if spike else "")
        worst = float(np.max(err / bound))
        h.check("%s: within 1e-5 of the error scale (worst %.2f of the bound)" % (what, worst),
                got.shape == tuple(want.shape) and bool(np.all(np.isfinite(got))) and worst <= 1.0)
h.finish()
