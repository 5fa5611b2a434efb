"""Every op lowered so far against PyTorch, on a dynamic batch (1, 3 and 8 from one
model.so): activations, arithmetic with broadcasting and literals, math, softmax and
log_softmax on several axes, 3-D dense, batched matmul, reshape/flatten/transpose and
reductions with keepdims."""
import os

import numpy as np
import torch
import torch.nn.functional as F

import harness as h

SRC = """
model Ops {
  input x: f32[B, 6]
  input s: f32[B, 3, 4]

  a = dense(x, 5)
  output o_relu = relu(a)
  output o_gelu = gelu(a)
  output o_gelu_tanh = gelu(a, approximate = "tanh")
  output o_sigmoid = sigmoid(a)
  output o_tanh = tanh(a)
  output o_silu = silu(a)
  output o_leaky = leaky_relu(a, alpha = 0.2)
  output o_leaky_torch_name = leaky_relu(a, negative_slope = 0.3)
  output o_softmax = softmax(s, axis = 1)
  output o_log_softmax = log_softmax(a)
  output o_log_softmax0 = log_softmax(s, dim = 0)
  output o_arith = (x * 2.0 - 1) / (abs(x) + 1.5)
  output o_neg = -x + 0.5 * x
  output o_math = exp(-abs(x)) + log(abs(x) + 1) + sqrt(abs(x)) + pow(abs(x), 1.5)
  output o_pow_tensor = pow(abs(s) + 0.5, s)
  output o_bcast = s + dense(s, 4)
  output o_bias_row = s * sum(s, axis = 0, keepdims = true)
  output o_dense3 = dense(s, 7) |> relu
  output o_nobias = dense(x, 3, bias = false)
  output o_flat = flatten(s)
  output o_flat0 = flatten(s, start = 0)
  output o_reshape = reshape(s, (-1, 2))
  output o_reshape_b = reshape(s, (-1, 6, 2))
  output o_transpose = transpose(s, (0, 2, 1))
  output o_transpose_neg = transpose(s, (-1, 0, 1))
  output o_bmm = s @ transpose(s, (0, 2, 1))
  output o_mm_shared = matmul(s, reshape(dense(x, 8), (-1, 4, 2)))
  output o_vec = x @ transpose(reshape(dense(x, 6), (-1, 6)), (1, 0))
  output o_sum = sum(s, axis = (1, 2))
  output o_sum_all = sum(s)
  output o_mean = mean(s, axis = -1, keepdims = true)
  output o_max = max(s, axis = 1)
  output o_max_keep = max(s, axis = (0, 2), keepdim = true)
  output o_dropout = dropout(x, 0.5)
}
"""


class Ops(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(6, 5)
        self.dense = torch.nn.Linear(4, 4)
        self.o_dense3 = torch.nn.Linear(4, 7)
        self.o_nobias = torch.nn.Linear(6, 3, bias=False)
        self.dense_1 = torch.nn.Linear(6, 8)
        self.dense_2 = torch.nn.Linear(6, 6)

    def forward(self, x, s):
        a = self.a(x)
        o = {}
        o["o_relu"] = torch.relu(a)
        o["o_gelu"] = F.gelu(a)
        o["o_gelu_tanh"] = F.gelu(a, approximate="tanh")
        o["o_sigmoid"] = torch.sigmoid(a)
        o["o_tanh"] = torch.tanh(a)
        o["o_silu"] = F.silu(a)
        o["o_leaky"] = F.leaky_relu(a, 0.2)
        o["o_leaky_torch_name"] = F.leaky_relu(a, 0.3)
        o["o_softmax"] = torch.softmax(s, 1)
        o["o_log_softmax"] = torch.log_softmax(a, -1)
        o["o_log_softmax0"] = torch.log_softmax(s, 0)
        o["o_arith"] = (x * 2.0 - 1) / (torch.abs(x) + 1.5)
        o["o_neg"] = -x + 0.5 * x
        ax = torch.abs(x)
        o["o_math"] = torch.exp(-ax) + torch.log(ax + 1) + torch.sqrt(ax) + torch.pow(ax, 1.5)
        o["o_pow_tensor"] = torch.pow(torch.abs(s) + 0.5, s)
        o["o_bcast"] = s + self.dense(s)
        o["o_bias_row"] = s * torch.sum(s, 0, keepdim=True)
        o["o_dense3"] = torch.relu(self.o_dense3(s))
        o["o_nobias"] = self.o_nobias(x)
        o["o_flat"] = torch.flatten(s, 1)
        o["o_flat0"] = torch.flatten(s, 0)
        o["o_reshape"] = s.reshape(-1, 2)
        o["o_reshape_b"] = s.reshape(-1, 6, 2)
        o["o_transpose"] = s.permute(0, 2, 1)
        o["o_transpose_neg"] = s.permute(2, 0, 1)
        o["o_bmm"] = s @ s.permute(0, 2, 1)
        o["o_mm_shared"] = torch.matmul(s, self.dense_1(x).reshape(-1, 4, 2))
        o["o_vec"] = x @ self.dense_2(x).reshape(-1, 6).permute(1, 0)
        o["o_sum"] = torch.sum(s, (1, 2))
        o["o_sum_all"] = torch.sum(s)
        o["o_mean"] = torch.mean(s, -1, keepdim=True)
        o["o_max"] = torch.amax(s, 1)
        o["o_max_keep"] = torch.amax(s, (0, 2), keepdim=True)
        o["o_dropout"] = x
        return o


torch.manual_seed(0)
wd = h.workdir()
ref = Ops().eval()
so, weights = h.compile_with_weights(SRC, ref, wd)
rng = np.random.RandomState(2)
h.check_outputs(so, weights, ref, (1, 3, 8), lambda batch: {
    "x": rng.randn(batch, 6).astype(np.float32),
    "s": rng.randn(batch, 3, 4).astype(np.float32)})


INT_POW = """
model IntPow {
  input a: i64[B, 8]
  input e: i64[B, 8]
  input c: i32[B, 4]
  output p = pow(a, e)
  output q = pow(c, 3)
  output r = pow(c, slice(e, 1, 0, 4))
  output f = pow(c, 0.5)
}
"""


def check_integer_pow():
    """pow of integers stays integer and computes as PyTorch does: wrapping on overflow,
    negative exponents giving 0 except for bases 1 and -1 (DSL.md's promotion rules, as
    for the other arithmetic); with a float exponent it is a float."""
    so = h.compile_model(INT_POW, h.workdir(), "intpow")
    rng = np.random.RandomState(3)
    for batch in (1, 4):
        a = rng.randint(-5, 6, (batch, 8)).astype(np.int64)
        a[0, :3] = [1, -1, 7]
        e = rng.randint(-3, 9, (batch, 8)).astype(np.int64)
        e[0, 2] = 40  # 7^40 wraps
        c = rng.randint(-9, 10, (batch, 4)).astype(np.int32)
        out = h.infer(so, {"a": a, "e": e[:, :8], "c": c})
        A, E, C = torch.from_numpy(a), torch.from_numpy(e), torch.from_numpy(c)
        want = {"p": torch.pow(A, E), "q": torch.pow(C, 3), "r": torch.pow(C, E[:, :4]), "f": torch.pow(C, 0.5)}
        for k, v in want.items():
            got = out[k]
            same = got.dtype == v.numpy().dtype and (np.array_equal(got, v.numpy()) if k != "f" else
                                                     np.allclose(got, v.numpy(), equal_nan=True, rtol=1e-6))
            h.check("integer pow b%d %s: %s, equal to torch's" % (batch, k, v.numpy().dtype), same,
                    "dlc %s %s, torch %s %s" % (got.dtype, got.ravel()[:8], v.dtype, v.numpy().ravel()[:8]))


NAN = """
model NanProp {
  input x: f32[B, 6]
  input img: f32[B, 3, 6, 6]
  output d = dense(x, 5) |> relu
  output c = conv2d(img, 4, 3, padding = 1) |> relu
  output r = relu(conv2d(img, 3, 3, padding = 1, name = "skip") + img)
  output p = max_pool2d(img, 2)
  output q = conv2d(img, 4, 3, padding = 1, name = "pc") |> max_pool2d(3, stride = 2, padding = 1)
  output m = conv2d(img, 16, 3, padding = 1, name = "m1") |> max_pool2d(2)
  output b = conv2d(img, 16, 3, padding = 1, name = "b1") |> relu |> conv2d(32, 3, padding = 1, name = "b2") |> relu |> max_pool2d(2)
}
"""


class NanProp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.d = torch.nn.Linear(6, 5)
        self.c = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.skip = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.pc = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.m1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.b1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.b2 = torch.nn.Conv2d(16, 32, 3, padding=1)

    def forward(self, x, img):
        F = torch.nn.functional
        return {"d": torch.relu(self.d(x)), "c": torch.relu(self.c(img)), "r": torch.relu(self.skip(img) + img),
                "p": F.max_pool2d(img, 2), "q": F.max_pool2d(self.pc(img), 3, stride=2, padding=1),
                "m": F.max_pool2d(self.m1(img), 2),
                "b": F.max_pool2d(torch.relu(self.b2(torch.relu(self.b1(img)))), 2)}


def check_nan_propagation():
    """A NaN in the input comes out where torch puts it, after a dense, a convolution, a
    residual add and max pooling alike (whichever kernel computes them: m and b pool whole
    vectors of channels natively, b on 16-channel blocks after a blocked convolution); the
    rest match."""
    torch.manual_seed(1)
    ref = NanProp().eval()
    so, weights = h.compile_with_weights(NAN, ref, h.workdir())
    rng = np.random.RandomState(5)
    x = rng.randn(3, 6).astype(np.float32)
    img = rng.randn(3, 3, 6, 6).astype(np.float32)
    x[0, 2] = np.nan
    img[1, 1, 2, 3] = np.nan
    out = h.infer(so, {"x": x, "img": img}, weights)
    with torch.no_grad():
        want = ref(torch.from_numpy(x), torch.from_numpy(img))
    for k, v in want.items():
        got, w = out[k], v.numpy()
        same_nan = np.array_equal(np.isnan(got), np.isnan(w)) and np.isnan(w).any()
        close = np.allclose(got[~np.isnan(w)], w[~np.isnan(w)], atol=1e-5, rtol=1e-5)
        h.check("NaN through %s as torch: %d NaN" % (k, int(np.isnan(w).sum())), same_nan and close,
                "dlc NaN at %s, torch at %s" % (np.argwhere(np.isnan(got))[:4].tolist(),
                                                np.argwhere(np.isnan(w))[:4].tolist()))


def check_float_to_integer_casts():
    """A float cast to an integer type: truncation toward zero, and NaN, infinities and values
    beyond the type's range give its lowest value, as torch's casts on x86 do (LLVM may fold
    a plain fptosi of such a value into anything); back to float and on, on both paths."""
    src = """
model Casts {
  input x: f32[B, 12]
  output i = cast(x, i32)
  output l = cast(x, i64)
  output r = cast(cast(x, i32), f32)
  output q = x / (abs(cast(cast(x * 4, i32), f32)) + 1)
}
"""
    x = np.array([[0.0, -0.0, 1.7, -1.7, 2147483520.0, -2147483648.0, 3e9, -3e9, 1e30, np.inf, -np.inf, np.nan]] * 2,
                 dtype=np.float32)
    t = torch.from_numpy(x)
    want = {"i": t.to(torch.int32), "l": t.to(torch.int64), "r": t.to(torch.int32).to(torch.float32),
            "q": t / ((t * 4).to(torch.int32).to(torch.float32).abs() + 1)}
    for kernels in ("onednn", "linalg"):
        so = h.compile_model(src, h.workdir(), "casts_" + kernels, flags=["--kernels=" + kernels])
        out = h.infer(so, {"x": x})
        for k, v in want.items():
            w = v.numpy()
            same = np.array_equal(out[k], w, equal_nan=True) if w.dtype.kind == "f" else np.array_equal(out[k], w)
            h.check("%s: cast %s as torch" % (kernels, k), same, "dlc %s, torch %s" % (out[k][0].tolist(), w[0].tolist()))


def check_layer_norm_overflow():
    """A layer_norm row whose variance is past float32's range (deviations of 1e20) is NaN,
    as torch's float32 layer_norm gives, on both paths, not every output the bias (x / inf =
    0); the rows beside it, one of them at 1e15 whose variance still fits, are torch's."""
    src = """
model LnOverflow {
  input x: f32[B, 6]
  output y = layer_norm(x, name = "ln")
}
"""
    x = np.array([[1e20, 2e20, -3e20, 4e20, 0.5, -1.0], [0.1, 0.7, -0.4, 2.0, 1.5, -0.9],
                  [1e15, -2e15, 3e15, 0.0, 1.0, 2.0]], dtype=np.float32)
    w = {"ln.weight": np.linspace(0.5, 1.5, 6).astype(np.float32), "ln.bias": np.linspace(-1, 1, 6).astype(np.float32)}
    want = F.layer_norm(torch.from_numpy(x), (6,), torch.from_numpy(w["ln.weight"]), torch.from_numpy(w["ln.bias"]))
    want = want.numpy()
    for kernels in ("onednn", "linalg"):
        so = h.compile_model(src, h.workdir(), "ln_overflow_" + kernels, flags=["--kernels=" + kernels])
        weights = os.path.join(h.workdir(), "ln_overflow.safetensors")
        h.save_safetensors(weights, w)
        got = h.infer(so, {"x": x}, weights)["y"]
        h.check("%s: layer_norm of a row whose variance overflows is NaN, as torch" % kernels,
                np.isnan(got[0]).all() and np.isnan(want[0]).all(), "dlc %s, torch %s" % (got[0], want[0]))
        h.check("%s: the rows beside it are torch's" % kernels,
                np.isfinite(got[1:]).all() and np.abs(got[1:] - want[1:]).max() < 1e-5, "dlc %s, torch %s" % (
                    got[1:], want[1:]))


FIRST = """
model FirstLayers {
  input img1: f32[B, 1, 13, 11]
  input img3: f32[B, 3, 21, 19]
  output a = conv2d(img1, 16, 3, padding = 1, name = "a") |> relu |> max_pool2d(2)
  output s = conv2d(img3, 64, 7, stride = 2, padding = 3, bias = false, name = "stem") |> batch_norm(name = "bn") |> relu |> max_pool2d(3, stride = 2, padding = 1)
  output d = conv2d(img3, 24, 3, padding = 2, dilation = 2, name = "dil") |> max_pool2d(2, stride = 1)
  output k = conv2d(img1, 8, 5, stride = 2, name = "k5") |> relu |> max_pool2d(3)
  output e = conv2d(img3, 32, 3, padding = 1, name = "e1") |> relu |> max_pool2d(2) |> conv2d(16, 3, padding = 1, name = "e2")
}
"""


class FirstLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.stem = torch.nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn = torch.nn.BatchNorm2d(64)
        self.dil = torch.nn.Conv2d(3, 24, 3, padding=2, dilation=2)
        self.k5 = torch.nn.Conv2d(1, 8, 5, stride=2)
        self.e1 = torch.nn.Conv2d(3, 32, 3, padding=1)
        self.e2 = torch.nn.Conv2d(32, 16, 3, padding=1)
        with torch.no_grad():  # statistics a trained network would have: the fold is not the identity
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)
            self.bn.weight.uniform_(-1.5, 1.5)  # negative scales too: max does not commute with them
            self.bn.bias.uniform_(-0.5, 0.5)

    def forward(self, img1, img3):
        F = torch.nn.functional
        return {"a": F.max_pool2d(torch.relu(self.a(img1)), 2),
                "s": F.max_pool2d(torch.relu(self.bn(self.stem(img3))), 3, stride=2, padding=1),
                "d": F.max_pool2d(self.dil(img3), 2, stride=1),
                "k": F.max_pool2d(torch.relu(self.k5(img1)), 3),
                "e": self.e2(F.max_pool2d(torch.relu(self.e1(img3)), 2))}


def check_first_layer_conv_pool():
    """A first layer's convolution and the max pooling after it, which the runtime runs as
    one pass (dlrt_k_conv2d_max_pool_f32: pairs of rows pooled in registers, other windows
    through a ring of rows, NCHW read directly, a folded batch norm with negative scales),
    match torch on a dynamic batch, on one thread and two, NaN included."""
    torch.manual_seed(3)
    ref = FirstLayers().eval()
    so, weights = h.compile_with_weights(FIRST, ref, h.workdir())
    rng = np.random.RandomState(7)
    for batch in (1, 3):
        for threads in (1, 2):
            img1 = rng.randn(batch, 1, 13, 11).astype(np.float32)
            img3 = rng.randn(batch, 3, 21, 19).astype(np.float32)
            if batch == 3:
                img1[1, 0, 6, 5] = np.nan
                img3[2, 1, 10, 9] = np.nan
            out = h.infer(so, {"img1": img1, "img3": img3}, weights, threads=threads)
            with torch.no_grad():
                want = ref(torch.from_numpy(img1), torch.from_numpy(img3))
            for k, v in want.items():
                got, w = out[k], v.numpy()
                nan = np.isnan(w)
                ok = (got.shape == w.shape and np.array_equal(np.isnan(got), nan) and (nan.any() == (batch == 3)) and
                      np.allclose(got[~nan], w[~nan], atol=1e-4, rtol=1e-4))
                err = np.abs(got[~nan] - w[~nan]).max() if got.shape == w.shape else float("inf")
                h.check("first-layer conv + max pool %s b%d t%d: %d NaN, max error %.2g" %
                        (k, batch, threads, int(nan.sum()), err), ok,
                        "dlc NaN at %s, torch at %s" % (np.argwhere(np.isnan(got))[:4].tolist(),
                                                        np.argwhere(nan)[:4].tolist()))
    # The fused kernel ran for each of the five chains (with oneDNN's kernels; the portable
    # linalg lowering has no such call): the profile names one op for each.
    prof = h.dlrun(["bench", so, "--batch", "2", "--seconds", "0.05", "--threads", "1", "--profile"]).stdout
    fused = [l for l in prof.splitlines() if "conv2d at" in l and "max_pool2d at" in l]
    want = 0 if "--kernels=linalg" in os.environ.get("DLC_FLAGS", "") else 5
    h.check("each first layer and its pooling ran as one kernel: %d of %d" % (len(fused), want), len(fused) == want,
            prof)


check_integer_pow()
check_nan_propagation()
check_float_to_integer_casts()
check_layer_norm_overflow()
check_first_layer_conv_pool()
h.finish()
