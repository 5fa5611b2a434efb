"""Compiled training against PyTorch: the gradient of every op on a path to the loss,
each loss, and one or more steps of each optimizer (with weight decay, momentum,
nesterov, clipping), on a dynamic batch; DLC_FLAGS=--kernels=linalg runs the same checks
on the portable lowering.

Gradients: a train step with sgd(lr = 1) leaves w - grad, so w0 - w1 is the gradient
dlc computed, compared with torch.autograd's in float64 within 1e-6 + 1e-5 max|g| +
1e-3 |g| (float32 arithmetic against the exact value). Optimizers: weights and slots
after the steps against torch.optim's float32 run within TOOLS.md's 1e-4 + 1e-3 |v|
(for Adam and AdamW, elements whose gradient is below 1e-6 excluded)."""
import os
import re
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

import harness as h

torch.manual_seed(0)


def linear(P, name, x):
    return F.linear(x, P[name + ".weight"], P[name + ".bias"])


def save_weights(wd, P):
    """The tensors P as wd/w0.safetensors in float32 (a model's starting weights); its path."""
    path = os.path.join(wd, "w0.safetensors")
    h.save_safetensors(path, {k: v.to(torch.float32).numpy() for k, v in P.items()})
    return path


def init_params(names_shapes, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {n: (torch.rand(s, generator=g, dtype=torch.float64) * 2 - 1).mul(0.5).to(dtype) for n, s in names_shapes}


# ---- models: .dl source (with OPT for the optimizer), parameters, torch forward -------

MLP = """
model Mlp {
  input x: f32[B, 12]
  input label: i64[B]
  h1 = dense(x, 16) |> relu
  h2 = dense(h1, 16) |> tanh
  logits = dense(h2, 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
    CLIP
  }
}
"""
MLP_PARAMS = [("h1.weight", (16, 12)), ("h1.bias", (16,)), ("h2.weight", (16, 16)), ("h2.bias", (16,)),
              ("logits.weight", (5, 16)), ("logits.bias", (5,))]


def mlp_logits(P, I):
    h1 = torch.relu(linear(P, "h1", I["x"]))
    h2 = torch.tanh(linear(P, "h2", h1))
    return linear(P, "logits", h2)


def mlp_loss(P, I):
    return F.cross_entropy(mlp_logits(P, I), I["label"])


def mlp_inputs(b, rng):
    return {"x": rng.standard_normal((b, 12)).astype(np.float32), "label": rng.integers(0, 5, b).astype(np.int64)}


ZOO = """
model Zoo {
  input x: f32[B, 6]
  input t: f32[B, 4]
  h = dense(x, 8)
  a = sigmoid(h) * gelu(h) + silu(h) - leaky_relu(h, alpha = 0.1) / (abs(h) + 1)
  b = sqrt(abs(h) + 0.5) + log(exp(tanh(h)) + 1) + pow(abs(h) + 1, 1.5) - gelu(h, approximate = "tanh")
  c = a * b + relu(h) + -h
  y = dense(c, 4)
  output y
  train {
    loss = mse(y, t)
    optimizer = OPT
  }
}
"""
ZOO_PARAMS = [("h.weight", (8, 6)), ("h.bias", (8,)), ("y.weight", (4, 8)), ("y.bias", (4,))]


def zoo_loss(P, I):
    h = linear(P, "h", I["x"])
    a = torch.sigmoid(h) * F.gelu(h) + F.silu(h) - F.leaky_relu(h, 0.1) / (h.abs() + 1)
    b = (h.abs() + 0.5).sqrt() + (torch.tanh(h).exp() + 1).log() + (h.abs() + 1).pow(1.5) - F.gelu(h, approximate="tanh")
    c = a * b + torch.relu(h) + -h
    return F.mse_loss(linear(P, "y", c), I["t"])


def zoo_inputs(b, rng):
    return {"x": rng.standard_normal((b, 6)).astype(np.float32), "t": rng.standard_normal((b, 4)).astype(np.float32)}


GELU_RANGE = """
model GeluRange {
  input x: f32[B, 6]
  input t: f32[B, 3]
  h = dense(x, 12)
  g = gelu(h * 8.0) + gelu(h * 1e-10) * 1e10 + gelu(h * 1e-20) * 1e20
  y = dense(g, 3)
  output y
  train {
    loss = mse(y, t)
    optimizer = OPT
  }
}
"""
GELU_RANGE_PARAMS = [("h.weight", (12, 6)), ("h.bias", (12,)), ("y.weight", (3, 12)), ("y.bias", (3,))]


def gelu_range_loss(P, I):
    """The exact GELU's gradient over the range its forms differ in: arguments to about +-25
    (the cdf exactly 0 in float below about -5.5, where erf rounds to -1) and about 1e-10
    and 1e-20 (the gradient takes the cdf from the result over the input, and 1/2 within
    2^-60 of 0)."""
    h = linear(P, "h", I["x"])
    g = F.gelu(h * 8.0) + F.gelu(h * 1e-10) * 1e10 + F.gelu(h * 1e-20) * 1e20
    return F.mse_loss(linear(P, "y", g), I["t"])


def gelu_range_inputs(b, rng):
    return {"x": rng.standard_normal((b, 6)).astype(np.float32), "t": rng.standard_normal((b, 3)).astype(np.float32)}


SHAPES = """
model Shapes {
  input x: f32[B, 5, 6]
  input t: f32[B, 5, 4]
  h = dense(x, 8)
  s = sum(h, axis = 1, keepdims = true)
  m = max(h, axis = -1, keepdims = true)
  tie = max(concat((h, h), axis = 2), axis = -1)
  g = h * s / 5.0 + m - mean(h, axis = (1, 2), keepdims = true) + reshape(tie, (-1, 5, 1))
  k = transpose(g, (0, 2, 1))
  r = reshape(k, (-1, 5, 8))
  c = concat((slice(r, 2, 0, 3), slice(g, 2, 3, 8)), axis = 2)
  y = dense(log_softmax(c) + softmax(c, axis = 1) + (flatten(mean(h, axis = 1), start = 1) |> reshape((-1, 1, 8))), 4)
  output y
  train {
    loss = mse(y, t)
    optimizer = OPT
  }
}
"""
SHAPES_PARAMS = [("h.weight", (8, 6)), ("h.bias", (8,)), ("y.weight", (4, 8)), ("y.bias", (4,))]


def shapes_loss(P, I):
    h = linear(P, "h", I["x"])
    s = h.sum(1, keepdim=True)
    m = h.amax(-1, keepdim=True)
    tie = torch.cat((h, h), 2).amax(-1)
    g = h * s / 5.0 + m - h.mean((1, 2), keepdim=True) + tie.reshape(-1, 5, 1)
    r = g.permute(0, 2, 1).reshape(-1, 5, 8)
    c = torch.cat((r[:, :, 0:3], g[:, :, 3:8]), 2)
    extra = h.mean(1).flatten(1).reshape(-1, 1, 8)
    return F.mse_loss(linear(P, "y", F.log_softmax(c, -1) + F.softmax(c, 1) + extra), I["t"])


def shapes_inputs(b, rng):
    return {"x": rng.standard_normal((b, 5, 6)).astype(np.float32),
            "t": rng.standard_normal((b, 5, 4)).astype(np.float32)}


GPT = """
model Gpt {
  input tokens: i64[B, 6]
  input targets: i64[B, 6]
  h = embedding(tokens, 7, 8) + position_embedding(tokens, 9, 8)
  h = h + attention(layer_norm(h), heads = 2, causal = true)
  logits = dense(layer_norm(h), 7)
  output logits
  train {
    loss = cross_entropy(logits, targets)
    optimizer = OPT
  }
}
"""
GPT_PARAMS = [("embedding.weight", (7, 8)), ("position_embedding.weight", (9, 8)), ("layer_norm.weight", (8,)),
              ("layer_norm.bias", (8,)), ("attention.in_proj_weight", (24, 8)), ("attention.in_proj_bias", (24,)),
              ("attention.out_proj.weight", (8, 8)), ("attention.out_proj.bias", (8,)),
              ("layer_norm_1.weight", (8,)), ("layer_norm_1.bias", (8,)), ("logits.weight", (7, 8)),
              ("logits.bias", (7,))]


def gpt_logits(P, I):
    tok = I["tokens"]
    b, t = tok.shape
    h = F.embedding(tok, P["embedding.weight"]) + P["position_embedding.weight"][:t].unsqueeze(0)
    x = F.layer_norm(h, (8,), P["layer_norm.weight"], P["layer_norm.bias"])
    qkv = F.linear(x, P["attention.in_proj_weight"], P["attention.in_proj_bias"])
    q, k, v = [z.reshape(b, t, 2, 4).permute(0, 2, 1, 3) for z in qkv.split(8, -1)]
    att = (q / 2.0) @ k.transpose(-1, -2)
    att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf")).softmax(-1)
    o = (att @ v).permute(0, 2, 1, 3).reshape(b, t, 8)
    h = h + F.linear(o, P["attention.out_proj.weight"], P["attention.out_proj.bias"])
    return linear(P, "logits", F.layer_norm(h, (8,), P["layer_norm_1.weight"], P["layer_norm_1.bias"]))


def gpt_loss(P, I):
    return F.cross_entropy(gpt_logits(P, I).reshape(-1, 7), I["targets"].reshape(-1))


def gpt_inputs(b, rng):
    # Few ids: repeated ids within a batch accumulate into the same embedding row.
    return {"tokens": rng.integers(0, 4, (b, 6)).astype(np.int64), "targets": rng.integers(0, 7, (b, 6)).astype(np.int64)}


PAIRS = """
model Pairs {
  input x: f32[B, 4, 6]
  input t: f32[B, 4, 4]
  input label: i32[B, 4]
  a = dense(x, 6)
  b = dense(x, 6)
  s = a @ transpose(b, (0, 2, 1))
  n = nll(log_softmax(dense(x, 5)), label)
  train {
    loss = bce_with_logits(s, t) + n * 0.5
    optimizer = OPT
  }
  output s
}
"""
PAIRS_PARAMS = [("a.weight", (6, 6)), ("a.bias", (6,)), ("b.weight", (6, 6)), ("b.bias", (6,)),
                ("dense.weight", (5, 6)), ("dense.bias", (5,))]


def pairs_loss(P, I):
    x = I["x"]
    s = linear(P, "a", x) @ linear(P, "b", x).transpose(1, 2)
    n = F.nll_loss(pairs_scores(P, I).reshape(-1, 5), I["label"].reshape(-1).long())
    return F.binary_cross_entropy_with_logits(s, I["t"]) + n * 0.5


def pairs_scores(P, I):
    return F.log_softmax(linear(P, "dense", I["x"]), -1)


def pairs_inputs(b, rng):
    return {"x": rng.standard_normal((b, 4, 6)).astype(np.float32),
            "t": rng.random((b, 4, 4)).astype(np.float32),
            "label": rng.integers(0, 5, (b, 4)).astype(np.int32)}



def image_inputs(chw):
    """The inputs of a classifier of images of shape chw into 5 classes: x standard normal
    ([b, *chw]), then the labels."""
    return lambda b, rng: {"x": rng.standard_normal((b,) + chw).astype(np.float32),
                           "label": rng.integers(0, 5, b).astype(np.int64)}


CONV = """
model Conv {
  input x: f32[B, 3, 10, 10]
  input label: i64[B]
  c1 = conv2d(x, 8, 3, stride = 2, padding = 1) |> relu
  p = max_pool2d(c1, 2, stride = 1)
  n1 = batch_norm(p)
  c2 = conv2d(n1, 8, 3, padding = 1, groups = 2)
  a = avg_pool2d(c2, 3, stride = 2, padding = 1)
  u = conv_transpose2d(a, 4, 3, stride = 2, padding = 1, output_padding = 1)
  v = conv_transpose2d(u, 3, 2, stride = 2, output_padding = 1, dilation = (1, 2))
  d = conv2d(v, 6, 2, dilation = 2, bias = false)
  logits = dense(global_avg_pool2d(d), 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
CONV_PARAMS = [("c1.weight", (8, 3, 3, 3)), ("c1.bias", (8,)), ("n1.weight", (8,)), ("n1.bias", (8,)),
               ("c2.weight", (8, 4, 3, 3)), ("c2.bias", (8,)), ("u.weight", (8, 4, 3, 3)), ("u.bias", (4,)),
               ("v.weight", (4, 3, 2, 2)), ("v.bias", (3,)), ("d.weight", (6, 3, 2, 2)), ("logits.weight", (5, 6)), ("logits.bias", (5,))]
# batch_norm's buffers: their values before the step; the step's new ones are checked too.
CONV_BUFFERS = {"n1.running_mean": np.linspace(-0.5, 0.5, 8).astype(np.float32),
                "n1.running_var": np.linspace(0.5, 2.0, 8).astype(np.float32),
                "n1.num_batches_tracked": np.array(7, np.int64)}


def conv_logits(P, I):
    c1 = torch.relu(F.conv2d(I["x"], P["c1.weight"], P["c1.bias"], stride=2, padding=1))
    p = F.max_pool2d(c1, 2, stride=1)
    n1 = F.batch_norm(p, P["n1.running_mean"], P["n1.running_var"], P["n1.weight"], P["n1.bias"], True, 0.1, 1e-5)
    c2 = F.conv2d(n1, P["c2.weight"], P["c2.bias"], padding=1, groups=2)
    a = F.avg_pool2d(c2, 3, stride=2, padding=1)
    u = F.conv_transpose2d(a, P["u.weight"], P["u.bias"], stride=2, padding=1, output_padding=1)
    v = F.conv_transpose2d(u, P["v.weight"], P["v.bias"], stride=2, output_padding=1, dilation=(1, 2))
    d = F.conv2d(v, P["d.weight"], dilation=2)
    return linear(P, "logits", d.mean((2, 3)))


def conv_loss(P, I):
    return F.cross_entropy(conv_logits(P, I), I["label"])


conv_inputs = image_inputs((3, 10, 10))


# 3x3 convolutions with the pixels (at least 8192 output pixels a call with AVX-512, 56x56
# from batch 3; 512 capped at AVX2)
# and channels (whole 16s; 64 and more for the weight gradient) for native Winograd in the
# train step: the forward of both, the data gradient of the second and its weight gradient
# (runtime/src/onednn/Convolution.cpp's nativeWinograd, winogradBackwardWeights).
# tanh between them, not relu: with relu, c1.weight's gradient was off by 7e-6 (0.4%) at
# one element, with F(2x2) for the data gradient too, and within the bound with the direct
# forward: F(4x4)'s rounding (about 1e-6 of a sum's scale where the direct sum's is 1e-7)
# moving a pre-activation across relu's kink, a discrete change that the float64
# reference does not share.
WIDE_CONV = """
model WideConv {
  input x: f32[B, 16, 56, 56]
  input label: i64[B]
  c1 = conv2d(x, 64, 3, padding = 1) |> tanh
  c2 = conv2d(c1, 64, 3, padding = 1)
  logits = dense(global_avg_pool2d(c2), 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
WIDE_CONV_PARAMS = [("c1.weight", (64, 16, 3, 3)), ("c1.bias", (64,)), ("c2.weight", (64, 64, 3, 3)), ("c2.bias", (64,)),
                    ("logits.weight", (5, 64)), ("logits.bias", (5,))]


def wide_conv_loss(P, I):
    c1 = torch.tanh(F.conv2d(I["x"], P["c1.weight"], P["c1.bias"], padding=1))
    c2 = F.conv2d(c1, P["c2.weight"], P["c2.bias"], padding=1)
    return F.cross_entropy(linear(P, "logits", c2.mean((2, 3))), I["label"])


wide_conv_inputs = image_inputs((16, 56, 56))


# 3x3 convolutions of 128 channels, which a train step runs by oneDNN's Winograd F(4x4, 3x3)
# where the CPU has AVX-512 (forward and data gradient; the weight gradient by native
# F(4x4); native Winograd or direct kernels capped at AVX2): the second one's data gradient
# reaches the first's weights.
DEEP_CONV = """
model DeepConv {
  input x: f32[B, 128, 14, 14]
  input label: i64[B]
  c1 = conv2d(x, 128, 3, padding = 1) |> tanh
  c2 = conv2d(c1, 128, 3, padding = 1, bias = false)
  logits = dense(global_avg_pool2d(c2), 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
DEEP_CONV_PARAMS = [("c1.weight", (128, 128, 3, 3)), ("c1.bias", (128,)), ("c2.weight", (128, 128, 3, 3)),
                    ("logits.weight", (5, 128)), ("logits.bias", (5,))]


def deep_conv_loss(P, I):
    c1 = torch.tanh(F.conv2d(I["x"], P["c1.weight"], P["c1.bias"], padding=1))
    c2 = F.conv2d(c1, P["c2.weight"], None, padding=1)
    return F.cross_entropy(linear(P, "logits", c2.mean((2, 3))), I["label"])


def deep_conv_inputs(b, rng):
    # Scaled so that c1's sums (1152 terms) stay in tanh's slope.
    return {"x": (0.05 * rng.standard_normal((b, 128, 14, 14))).astype(np.float32),
            "label": rng.integers(0, 5, b).astype(np.int64)}


# A first convolution (3 -> 64, 7x7 of stride 2, as ResNet's stem) whose output rows are
# 60 pixels long: its weight gradient runs by native/ConvWeightGradient's outer products
# (with AVX-512 or AVX2), the image's padding inside the windows of the edge pixels.
STEM = """
model Stem {
  input x: f32[B, 3, 16, 120]
  input label: i64[B]
  c1 = conv2d(x, 64, 7, stride = 2, padding = 3, bias = false) |> tanh
  logits = dense(global_avg_pool2d(c1), 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
STEM_PARAMS = [("c1.weight", (64, 3, 7, 7)), ("logits.weight", (5, 64)), ("logits.bias", (5,))]


def stem_loss(P, I):
    c1 = torch.tanh(F.conv2d(I["x"], P["c1.weight"], None, stride=2, padding=3))
    return F.cross_entropy(linear(P, "logits", c1.mean((2, 3))), I["label"])


stem_inputs = image_inputs((3, 16, 120))


# relu after a training batch_norm, which the runtime's batch norm applies as it stores
# its result (FuseActivations' FuseReluIntoBatchNormTrain), and relu(batch_norm + skip),
# the skip tensor added there too (FuseResidualReluIntoBatchNormTrain): an identity skip
# (r1) and ResNet's downsampling one (r2: the later batch norm takes the earlier's result).
# The relus' gradients read those results.
BN_RELU = """
model BnRelu {
  input x: f32[B, 3, 12, 12]
  input label: i64[B]
  c1 = conv2d(x, 16, 3, padding = 1, bias = false)
  n1 = batch_norm(c1) |> relu
  c2 = conv2d(n1, 16, 3, padding = 1, bias = false)
  n2 = batch_norm(c2)
  r1 = relu(n2 + n1)
  c3 = conv2d(r1, 16, 3, padding = 1, bias = false)
  n3 = batch_norm(c3)
  d = conv2d(r1, 16, 1, bias = false)
  n4 = batch_norm(d)
  r2 = relu(n3 + n4)
  logits = dense(global_avg_pool2d(r2), 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
BN_RELU_PARAMS = ([("c1.weight", (16, 3, 3, 3)), ("c2.weight", (16, 16, 3, 3)), ("c3.weight", (16, 16, 3, 3)),
                   ("d.weight", (16, 16, 1, 1))] + [(n + s, (16,)) for n in ("n1", "n2", "n3", "n4")
                                                      for s in (".weight", ".bias")] +
                  [("logits.weight", (5, 16)), ("logits.bias", (5,))])
BN_RELU_BUFFERS = {"%s.%s" % (n, b): v for n in ("n1", "n2", "n3", "n4") for b, v in
                   (("running_mean", np.zeros(16, np.float32)), ("running_var", np.ones(16, np.float32)),
                    ("num_batches_tracked", np.array(0, np.int64)))}


def bn_relu_loss(P, I):
    def bn(name, v):
        return F.batch_norm(v, P[name + ".running_mean"], P[name + ".running_var"], P[name + ".weight"],
                            P[name + ".bias"], True, 0.1, 1e-5)
    n1 = torch.relu(bn("n1", F.conv2d(I["x"], P["c1.weight"], padding=1)))
    r1 = torch.relu(bn("n2", F.conv2d(n1, P["c2.weight"], padding=1)) + n1)
    r2 = torch.relu(bn("n3", F.conv2d(r1, P["c3.weight"], padding=1)) + bn("n4", F.conv2d(r1, P["d.weight"])))
    return F.cross_entropy(linear(P, "logits", r2.mean((2, 3))), I["label"])


bn_relu_inputs = image_inputs((3, 12, 12))


# ResNet's stem on 16 channels: batch norm, relu and max pooling of 3x3, stride 2 (relu
# moved below the pooling), where the batch norm's statistics and the pooling of its
# normalised values run in one call (dlrt_k_batch_norm_max_pool_f32) and the normalised
# tensor is never stored; the pooling's gradient and the batch norm's read what that call
# kept. Odd sizes (11 x 9): windows cut by the edges on both sides.
BN_POOL = """
model BnPool {
  input x: f32[B, 3, 11, 9]
  input label: i64[B]
  c = conv2d(x, 16, 3, padding = 1, bias = false)
  p = batch_norm(c, name = "n") |> relu |> max_pool2d(3, stride = 2, padding = 1)
  logits = dense(flatten(p), 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
BN_POOL_PARAMS = [("c.weight", (16, 3, 3, 3)), ("n.weight", (16,)), ("n.bias", (16,)),
                  ("logits.weight", (5, 16 * 6 * 5)), ("logits.bias", (5,))]
BN_POOL_BUFFERS = {"n.running_mean": np.zeros(16, np.float32), "n.running_var": np.ones(16, np.float32),
                   "n.num_batches_tracked": np.array(0, np.int64)}


def bn_pool_loss(P, I):
    n = F.batch_norm(F.conv2d(I["x"], P["c.weight"], padding=1), P["n.running_mean"], P["n.running_var"],
                     P["n.weight"], P["n.bias"], True, 0.1, 1e-5)
    p = F.max_pool2d(torch.relu(n), 3, stride=2, padding=1)
    return F.cross_entropy(linear(P, "logits", p.flatten(1)), I["label"])


bn_pool_inputs = image_inputs((3, 11, 9))


# Max pooling on whole 16s of channels, which the train step runs on the runtime's own
# kernels (native/MaxPool: the maxima's positions kept by the forward, the gradient
# gathered by the backward), windows overlapping (3x3 of stride 2, padding 1) and apart
# (2x2), after a 1x1 convolution whose weights get the gradient through both.
POOL = """
model Pool {
  input x: f32[B, 16, 9, 8]
  input label: i64[B]
  c = conv2d(x, 16, 1)
  p = max_pool2d(c, 3, stride = 2, padding = 1)
  q = max_pool2d(c, 2)
  f = concat((flatten(p), flatten(q)), 1)
  logits = dense(f, 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
POOL_PARAMS = [("c.weight", (16, 16, 1, 1)), ("c.bias", (16,)), ("logits.weight", (5, 16 * (5 * 4 + 4 * 4))),
               ("logits.bias", (5,))]


def pool_loss(P, I):
    c = F.conv2d(I["x"], P["c.weight"], P["c.bias"])
    p = F.max_pool2d(c, 3, stride=2, padding=1)
    q = F.max_pool2d(c, 2)
    f = torch.cat((p.flatten(1), q.flatten(1)), 1)
    return F.cross_entropy(linear(P, "logits", f), I["label"])


pool_inputs = image_inputs((16, 9, 8))


NORM1D = """
model Norm1d {
  input x: f32[B, 4, 5]
  input t: f32[B, 6]
  h = batch_norm(x, momentum = 0.3)
  f = dense(flatten(h), 6) |> tanh
  y = batch_norm(f, eps = 0.001)
  output y
  train {
    loss = mse(y, t)
    optimizer = OPT
  }
}
"""
NORM1D_PARAMS = [("h.weight", (4,)), ("h.bias", (4,)), ("f.weight", (6, 20)), ("f.bias", (6,)), ("y.weight", (6,)),
                 ("y.bias", (6,))]
NORM1D_BUFFERS = {"h.running_mean": np.zeros(4, np.float32), "h.running_var": np.ones(4, np.float32),
                  "h.num_batches_tracked": np.array(0, np.int64),
                  "y.running_mean": np.full(6, 0.25, np.float32), "y.running_var": np.full(6, 3.0, np.float32),
                  "y.num_batches_tracked": np.array(2, np.int64)}


def norm1d_loss(P, I):
    h = F.batch_norm(I["x"], P["h.running_mean"], P["h.running_var"], P["h.weight"], P["h.bias"], True, 0.3, 1e-5)
    f = torch.tanh(linear(P, "f", h.flatten(1)))
    y = F.batch_norm(f, P["y.running_mean"], P["y.running_var"], P["y.weight"], P["y.bias"], True, 0.1, 1e-3)
    return F.mse_loss(y, I["t"])


def norm1d_inputs(b, rng):
    return {"x": rng.standard_normal((b, 4, 5)).astype(np.float32), "t": rng.standard_normal((b, 6)).astype(np.float32)}


# Batch statistics of many near-equal values: each channel is 10 plus noise of 0.01, so
# x - mean is 1e-3 of x, and --kernels linalg's float32 mean (summed in order over the
# batch's 432-1152 values) put the weight's gradient outside the check's 1e-3 (difftest
# seed 165981: a train step's outputs 3% off after a layer norm); its mean is float64 now.
# Nearer still (10 + 0.003 noise, 100 + 0.03) float32's own rounding of the mean, which
# the backward pass reads, fails both paths as it would float32 PyTorch.
BN_FLAT = """
model BnFlat {
  input x: f32[B, 3, 12, 12]
  input t: f32[B, 3, 12, 12]
  y = batch_norm(x)
  output y
  train {
    loss = mse(y, t)
    optimizer = OPT
  }
}
"""
BN_FLAT_PARAMS = [("y.weight", (3,)), ("y.bias", (3,))]
BN_FLAT_BUFFERS = {"y.running_mean": np.zeros(3, np.float32), "y.running_var": np.ones(3, np.float32),
                   "y.num_batches_tracked": np.array(0, np.int64)}


def bn_flat_loss(P, I):
    y = F.batch_norm(I["x"], P["y.running_mean"], P["y.running_var"], P["y.weight"], P["y.bias"], True, 0.1, 1e-5)
    return F.mse_loss(y, I["t"])


def bn_flat_inputs(b, rng):
    return {"x": (10 + 0.01 * rng.standard_normal((b, 3, 12, 12))).astype(np.float32),
            "t": rng.standard_normal((b, 3, 12, 12)).astype(np.float32)}


RNN = """
model Rnn {
  input x: f32[B, 5, 3]
  input label: i64[B]
  s = lstm(x, 6, layers = 2)
  g = gru(s, 4, sequences = false)
  logits = dense(g, 3)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
RNN_PARAMS = [("s.weight_ih_l0", (24, 3)), ("s.weight_hh_l0", (24, 6)), ("s.bias_ih_l0", (24,)), ("s.bias_hh_l0", (24,)),
              ("s.weight_ih_l1", (24, 6)), ("s.weight_hh_l1", (24, 6)), ("s.bias_ih_l1", (24,)), ("s.bias_hh_l1", (24,)),
              ("g.weight_ih_l0", (12, 6)), ("g.weight_hh_l0", (12, 4)), ("g.bias_ih_l0", (12,)), ("g.bias_hh_l0", (12,)),
              ("logits.weight", (3, 4)), ("logits.bias", (3,))]


def recurrent(x, P, prefix, layers, gru):
    """torch.nn.LSTM / GRU (batch_first, zero initial states) written out, so that autograd
    sees the parameters themselves (nn.RNN modules keep flattened copies of theirs); checked
    against the modules in check_recurrent_reference. Returns every step's output."""
    for l in range(layers):
        w_ih, w_hh = P["%sweight_ih_l%d" % (prefix, l)], P["%sweight_hh_l%d" % (prefix, l)]
        b_ih, b_hh = P["%sbias_ih_l%d" % (prefix, l)], P["%sbias_hh_l%d" % (prefix, l)]
        hidden = w_hh.shape[1]
        h = x.new_zeros(x.shape[0], hidden)
        c = x.new_zeros(x.shape[0], hidden)
        outs = []
        for t in range(x.shape[1]):
            gi, gh = F.linear(x[:, t], w_ih, b_ih), F.linear(h, w_hh, b_hh)
            if gru:
                r = torch.sigmoid(gi[:, :hidden] + gh[:, :hidden])
                z = torch.sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
                n = torch.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
                h = (1 - z) * n + z * h
            else:
                i, f, g, o = (gi + gh).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        x = torch.stack(outs, 1)
    return x


def rnn_logits(P, I):
    s = recurrent(I["x"], P, "s.", 2, False)
    g = recurrent(s, P, "g.", 1, True)[:, -1]
    return linear(P, "logits", g)


def check_recurrent_reference():
    P = init_params(RNN_PARAMS)
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    lstm = torch.nn.LSTM(3, 6, 2, batch_first=True).double()
    gru = torch.nn.GRU(6, 4, batch_first=True).double()
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            p.copy_(P["s." + name])
        for name, p in gru.named_parameters():
            p.copy_(P["g." + name])
        want = gru(lstm(x)[0])[0]
        got = recurrent(recurrent(x, P, "s.", 2, False), P, "g.", 1, True)
    h.check_close("the written-out LSTM and GRU equal torch.nn's", got.numpy(), want.numpy(), atol=1e-12, rtol=1e-12)


def rnn_loss(P, I):
    return F.cross_entropy(rnn_logits(P, I), I["label"])


def rnn_inputs(b, rng, steps=5):
    return {"x": rng.standard_normal((b, steps, 3)).astype(np.float32), "label": rng.integers(0, 3, b).astype(np.int64)}


# The same over 40 steps: the portable path unrolls the recurrence for its train step, and
# a sequence this long is assembled, and its step slices' gradients gathered, by one
# tensor.concat each (dl-concat-insert-chains) instead of chains of inserts.
RNN_LONG = RNN.replace("f32[B, 5, 3]", "f32[B, 40, 3]")


# Four calls of a fn that calls another: dlc compiles the block once (dl-share-fn-bodies),
# its forward pass, its backward pass and its parameters' updates each a function of their
# own, called with each call's parameters; check_shared_bodies checks that it did.
DEEP = """
model Deep {
  input x: f32[B, 5, 8]
  input label: i64[B]
  fn mlp(h) {
    return dense(h, 16) |> gelu |> dense(8)
  }
  fn block(h) {
    h = h + attention(layer_norm(h), heads = 2)
    return h + mlp(layer_norm(h))
  }
  h = x
  repeat 4 { h = block(h) }
  logits = dense(mean(h, axis = 1), 3)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
    CLIP
  }
}
"""
DEEP_LAYERS = 4
DEEP_PARAMS = [p for k in range(DEEP_LAYERS) for p in [
    ("block.%d.layer_norm.weight" % k, (8,)), ("block.%d.layer_norm.bias" % k, (8,)),
    ("block.%d.attention.in_proj_weight" % k, (24, 8)), ("block.%d.attention.in_proj_bias" % k, (24,)),
    ("block.%d.attention.out_proj.weight" % k, (8, 8)), ("block.%d.attention.out_proj.bias" % k, (8,)),
    ("block.%d.layer_norm_1.weight" % k, (8,)), ("block.%d.layer_norm_1.bias" % k, (8,)),
    ("block.%d.mlp.0.dense.weight" % k, (16, 8)), ("block.%d.mlp.0.dense.bias" % k, (16,)),
    ("block.%d.mlp.0.dense_1.weight" % k, (8, 16)), ("block.%d.mlp.0.dense_1.bias" % k, (8,))]] + [
    ("logits.weight", (3, 8)), ("logits.bias", (3,))]


def deep_logits(P, I):
    h = I["x"]
    b, t, _ = h.shape
    for k in range(DEEP_LAYERS):
        pre = "block.%d." % k
        x = F.layer_norm(h, (8,), P[pre + "layer_norm.weight"], P[pre + "layer_norm.bias"])
        qkv = F.linear(x, P[pre + "attention.in_proj_weight"], P[pre + "attention.in_proj_bias"])
        q, kk, v = [z.reshape(b, t, 2, 4).permute(0, 2, 1, 3) for z in qkv.split(8, -1)]
        att = ((q / 2.0) @ kk.transpose(-1, -2)).softmax(-1)
        o = (att @ v).permute(0, 2, 1, 3).reshape(b, t, 8)
        h = h + F.linear(o, P[pre + "attention.out_proj.weight"], P[pre + "attention.out_proj.bias"])
        x = F.layer_norm(h, (8,), P[pre + "layer_norm_1.weight"], P[pre + "layer_norm_1.bias"])
        m = F.gelu(linear(P, pre + "mlp.0.dense", x))
        h = h + linear(P, pre + "mlp.0.dense_1", m)
    return linear(P, "logits", h.mean(1))


def deep_loss(P, I):
    return F.cross_entropy(deep_logits(P, I), I["label"])


def deep_inputs(b, rng):
    return {"x": rng.standard_normal((b, 5, 8)).astype(np.float32), "label": rng.integers(0, 3, b).astype(np.int64)}


MODELS = [("mlp", MLP, MLP_PARAMS, mlp_loss, mlp_inputs), ("zoo", ZOO, ZOO_PARAMS, zoo_loss, zoo_inputs),
          ("gelu_range", GELU_RANGE, GELU_RANGE_PARAMS, gelu_range_loss, gelu_range_inputs),
          ("shapes", SHAPES, SHAPES_PARAMS, shapes_loss, shapes_inputs), ("gpt", GPT, GPT_PARAMS, gpt_loss, gpt_inputs),
          ("pairs", PAIRS, PAIRS_PARAMS, pairs_loss, pairs_inputs), ("conv", CONV, CONV_PARAMS, conv_loss, conv_inputs),
          ("wide_conv", WIDE_CONV, WIDE_CONV_PARAMS, wide_conv_loss, wide_conv_inputs),
          ("deep_conv", DEEP_CONV, DEEP_CONV_PARAMS, deep_conv_loss, deep_conv_inputs),
          ("stem", STEM, STEM_PARAMS, stem_loss, stem_inputs),
          ("bn_relu", BN_RELU, BN_RELU_PARAMS, bn_relu_loss, bn_relu_inputs),
          ("bn_pool", BN_POOL, BN_POOL_PARAMS, bn_pool_loss, bn_pool_inputs),
          ("pool", POOL, POOL_PARAMS, pool_loss, pool_inputs),
          ("norm1d", NORM1D, NORM1D_PARAMS, norm1d_loss, norm1d_inputs),
          ("bn_flat", BN_FLAT, BN_FLAT_PARAMS, bn_flat_loss, bn_flat_inputs), ("rnn", RNN, RNN_PARAMS, rnn_loss, rnn_inputs),
          ("rnn_long", RNN_LONG, RNN_PARAMS, rnn_loss, lambda b, rng: rnn_inputs(b, rng, 40)),
          ("deep", DEEP, DEEP_PARAMS, deep_loss, deep_inputs)]
BUFFERS = {"conv": CONV_BUFFERS, "norm1d": NORM1D_BUFFERS, "bn_relu": BN_RELU_BUFFERS, "bn_pool": BN_POOL_BUFFERS,
           "bn_flat": BN_FLAT_BUFFERS}


def accuracy(logits_fn, labels):
    return lambda P, I: (logits_fn(P, I).argmax(-1) == I[labels]).double().mean().item()


ACCURACY = {"mlp": accuracy(mlp_logits, "label"), "gpt": accuracy(gpt_logits, "targets"),
            "deep": accuracy(deep_logits, "label"), "pairs": accuracy(pairs_scores, "label"),
            "conv": accuracy(conv_logits, "label"), "rnn": accuracy(rnn_logits, "label"),
            "rnn_long": accuracy(rnn_logits, "label")}


def source(src, opt, clip=None):
    return src.replace("OPT", opt).replace("CLIP", "clip_grad_norm = %g" % clip if clip else "")


def torch_inputs(inputs, dtype):
    return {k: torch.from_numpy(v).to(dtype) if v.dtype == np.float32 else torch.from_numpy(v)
            for k, v in inputs.items()}


def check_gradients():
    rng = np.random.default_rng(0)
    for name, src, params, loss_fn, make_inputs in MODELS:
        wd = h.workdir()
        so = h.compile_model(source(src, "sgd(lr = 1.0)"), wd)
        P = init_params(params)
        buffers = BUFFERS.get(name, {})
        w0 = os.path.join(wd, "w0.safetensors")
        h.save_safetensors(w0, {**{k: v.to(torch.float32).numpy() for k, v in P.items()}, **buffers})
        for batch in (3, 8):
            inputs = make_inputs(batch, rng)
            log = os.path.join(wd, "log.csv")
            after, _, _, _ = h.train_run(so, inputs, w0, wd, ["--steps", "1", "--log", log])
            P64 = {k: v.to(torch.float32).to(torch.float64).requires_grad_() for k, v in P.items()}
            B64 = {k: torch.from_numpy(v).to(torch.float64) for k, v in buffers.items()}
            loss = loss_fn({**P64, **B64}, torch_inputs(inputs, torch.float64))
            # Buffers after the step: batch_norm's running statistics (updated in place by
            # F.batch_norm) and num_batches_tracked + 1.
            for bname, b in B64.items():
                want = b.numpy() + 1 if bname.endswith("num_batches_tracked") else b.numpy()
                h.check_close("%s b%d buffer %s" % (name, batch, bname), after[bname].astype(np.float64), want,
                              atol=1e-6, rtol=1e-5)
            grads = torch.autograd.grad(loss, list(P64.values()), allow_unused=True)
            # The loss the step computed (forward, before the update), as the log has it
            # (6 decimals), and for classification losses the accuracy of its predictions.
            row = dict(zip(*[line.split(",") for line in open(log).read().split()]))
            h.check_close("%s b%d loss" % (name, batch), float(row["train_loss"]), loss.item(),
                          atol=2e-6, rtol=1e-5)
            if name in ACCURACY:
                B64 = {k: torch.from_numpy(v).to(torch.float64) for k, v in buffers.items()}
                want = ACCURACY[name]({**P64, **B64}, torch_inputs(inputs, torch.float64))
                h.check_close("%s b%d accuracy of the predictions" % (name, batch), float(row["train_acc"]), want,
                              atol=1e-6, rtol=0)
            for (pname, p), g in zip(P64.items(), grads):
                ref = np.zeros(p.shape) if g is None else g.numpy()
                got = p.detach().numpy() - after[pname].astype(np.float64)
                scale = np.abs(ref).max() if ref.size else 0.0
                h.check_close("%s b%d grad %s" % (name, batch, pname), got, ref, atol=1e-6 + 1e-5 * scale, rtol=1e-3)


OPTIMIZERS = [
    ("sgd(lr = 0.1)", None, lambda ps: torch.optim.SGD(ps, lr=0.1)),
    ("sgd(lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01)", 0.5,
     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam(lr = 0.01, weight_decay = 0.01)", None, lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01)),
    ("adamw(lr = 0.01)", 1.0, lambda ps: torch.optim.AdamW(ps, lr=0.01)),
]
SLOT_NAMES = {torch.optim.SGD: ["momentum_buffer"], torch.optim.Adam: ["exp_avg", "exp_avg_sq"],
              torch.optim.AdamW: ["exp_avg", "exp_avg_sq"]}


def torch_steps(P, loss_fn, inputs, make_opt, clip, rates):
    """torch.optim's float32 steps from the parameters P on `inputs`, one per element of
    `rates` (the learning rate set before that step; None leaves the optimizer's): the
    parameters after, the optimizer, and per parameter the elements TOOLS.md compares
    (for Adam and AdamW, not those whose gradient was below 1e-6 in some step)."""
    T = {k: v.clone().requires_grad_() for k, v in P.items()}
    o = make_opt(list(T.values()))
    small = {k: np.zeros(v.shape, bool) for k, v in T.items()}
    for lr in rates:
        if lr is not None:
            for g in o.param_groups:
                g["lr"] = lr
        o.zero_grad()
        loss_fn(T, torch_inputs(inputs, torch.float32)).backward()
        for k, v in T.items():
            small[k] |= v.grad.abs().numpy() < 1e-6
        if clip:
            torch.nn.utils.clip_grad_norm_(list(T.values()), clip)
        o.step()
    adam = not isinstance(o, torch.optim.SGD)
    return T, o, {k: ~small[k] if adam else np.ones(v.shape, bool) for k, v in T.items()}


def model_and_weights(src, params, seed):
    """SRC compiled in a fresh folder, and float32 starting weights for PARAMS drawn with
    SEED saved there: (folder, model.so, the weights, their file)."""
    wd = h.workdir()
    so = h.compile_model(src, wd)
    P = init_params(params, torch.float32, seed=seed)
    return wd, so, P, save_weights(wd, P)


def check_optimizers():
    rng = np.random.default_rng(1)
    steps = 3
    for name, src, params, loss_fn, make_inputs in [m for m in MODELS if m[0] in ("mlp", "gpt", "deep")]:
        for opt, clip, make_opt in OPTIMIZERS:
            wd, so, P, w0 = model_and_weights(source(src, opt, clip), params, 2)
            inputs = make_inputs(6, rng)
            after, ckpt, meta, _ = h.train_run(so, inputs, w0, wd, ["--steps", str(steps)])
            T, o, keep = torch_steps(P, loss_fn, inputs, make_opt, clip, [None] * steps)
            what = "%s %s" % (name, opt.split("(")[0] + (" clip" if clip else ""))
            h.check("%s: checkpoint step count" % what, meta.get("step") == str(steps), str(meta.get("step")))
            for k, v in T.items():
                ref = v.detach().numpy()
                h.check_close("%s %s" % (what, k), after[k][keep[k]], ref[keep[k]], atol=1e-4, rtol=1e-3)
                state = o.state[v]
                for slot in SLOT_NAMES[type(o)]:
                    if slot not in state or state[slot] is None:
                        continue
                    h.check_close("%s optim.%s.%s" % (what, k, slot), ckpt["optim.%s.%s" % (k, slot)][keep[k]],
                                  state[slot].numpy()[keep[k]], atol=1e-4, rtol=1e-3)


def check_lr_between_steps():
    """DSL.md: the learning rate can be changed between steps at run time. Three steps of
    each optimizer through the C API in one session (tests/difftest/session_calls.py), the
    rate set before each (dlrt_set_lr: the DSL's, 0.3 of it, 2.5 times it), against
    torch.optim with its param group's lr set alike; weight decay, momentum and AdamW's
    decoupled decay all read the rate of their step."""
    import json
    rng = np.random.default_rng(6)
    for opt, clip, make_opt in OPTIMIZERS:
        wd, so, P, w0 = model_and_weights(source(MLP, opt, clip), MLP_PARAMS, 7)
        inputs = mlp_inputs(6, rng)
        files = {}
        for k, a in inputs.items():
            files[k] = os.path.join(wd, k + ".npy")
            np.save(files[k], a)
        base = float(re.search(r"lr = ([0-9.e-]+)", opt).group(1))
        rates = [base, 0.3 * base, 2.5 * base]
        after = os.path.join(wd, "after.safetensors")
        plan = os.path.join(wd, "plan.json")
        with open(plan, "w") as f:
            json.dump({"model": so, "weights": w0, "threads": 2, "lib": os.path.join(h.BIN, "..", "lib"),
                       "plugins": os.path.join(h.BIN, "..", "lib", "dlc-plugins"), "save": after,
                       "calls": [{"kind": "train", "inputs": files, "out": os.path.join(wd, "step%d" % i), "lr": lr}
                                 for i, lr in enumerate(rates)]}, f)
        r = subprocess.run([sys.executable, os.path.join(h.SRC, "tests", "difftest", "session_calls.py"), plan],
                           capture_output=True, text=True, env=h.dlrt_python_env())
        what = "lr between steps, %s" % opt.split("(")[0] + (" clip" if clip else "")
        h.check("%s: the steps through the C API run" % what, r.returncode == 0, r.stderr[-600:])
        if r.returncode:
            continue
        got = h.load_safetensors(after)[0]
        T, _, keep = torch_steps(P, mlp_loss, inputs, make_opt, clip, rates)
        for k, v in T.items():
            h.check_close("%s %s" % (what, k), got[k][keep[k]], v.detach().numpy()[keep[k]], atol=1e-4, rtol=1e-3)


def emit(wd, name, kind, extra=()):
    """dlc --emit KIND of wd/NAME.dl (as h.compile_model wrote it), under DLC_FLAGS."""
    cmd = [os.path.join(h.BIN, "dlc"), os.path.join(wd, name + ".dl"), "--emit", kind] + list(extra)
    return subprocess.run(cmd + os.environ.get("DLC_FLAGS", "").split(), capture_output=True, text=True,
                          check=True).stdout


def train_alike(label, so, others, inputs, w0, wd, steps):
    """STEPS train steps of SO and of each of OTHERS ({what: model.so}) from the weights W0 on
    INPUTS: every weight and buffer afterwards the same, bit for bit."""
    def train(model):
        out = os.path.join(wd, "%s.%s.train" % (os.path.basename(model), label.replace(" ", "_")))
        os.makedirs(out, exist_ok=True)
        return h.train_run(model, inputs, w0, out, ["--steps", str(steps)])[0]
    after = train(so)
    for what, other_so in others.items():
        other = train(other_so)
        for k in other:
            h.check("%s: shared bodies train %s as %s do, bit for bit" % (label, k, what),
                    np.array_equal(after[k], other[k]), "max diff %g" % np.abs(after[k] - other[k]).max())


def check_shared_bodies():
    """The deep model's calls of block (and of mlp inside it) share functions, forward,
    backward and updates, and compute bit for bit what the model compiled with every call
    unrolled (--share-fn-bodies=false) computes: inference and three AdamW steps with
    clipping, at two batch sizes. So does the model whose entry functions are code-generated
    apart, without optimisation, beside the rest (CodegenParts.cpp; a deep model's train
    step is; --glue-threshold=0 makes this one's)."""
    rng = np.random.default_rng(3)
    src = source(DEEP, "adamw(lr = 0.01)", 1.0)
    wd = h.workdir()
    shared = h.compile_model(src, wd, "shared")
    others = {"unrolled calls": h.compile_model(src, wd, "unrolled", flags=["--share-fn-bodies=false"]),
              "entries code-generated apart": h.compile_model(src, wd, "glue", flags=["--glue-threshold=0"])}
    ir = emit(wd, "shared", "llvm")
    bodies = re.findall(r"^define (?:internal|hidden) [^@]*@(dl_fn_\w+)\(", ir, re.M)
    h.check("deep: block and mlp compiled as shared bodies", any(b.startswith("dl_fn_block") for b in bodies) and
            any(b.startswith("dl_fn_mlp") for b in bodies), str(bodies))
    for b in bodies:
        calls = len(re.findall(r"call [^@]*@%s\(" % b, ir))
        h.check("deep: %s is called more than once" % b, calls >= 2, "%d calls" % calls)
    asm = emit(wd, "shared", "asm", ["--glue-threshold=0"])
    parts = re.findall(r"^# dlc: code part .*$", asm, re.M)
    h.check("deep: --glue-threshold=0 generates the entry functions at level 0, apart",
            any("level 0: dl_entry_eval_step, dl_entry_infer, dl_entry_train_step" in p for p in parts), str(parts))
    P = init_params(DEEP_PARAMS, torch.float32, seed=4)
    w0 = save_weights(wd, P)
    for batch in (3, 5):
        inputs = deep_inputs(batch, rng)
        a = h.infer(shared, {"x": inputs["x"]}, w0, wd)["logits"]
        for what, so in others.items():
            b = h.infer(so, {"x": inputs["x"]}, w0, wd)["logits"]
            h.check("deep b%d: shared bodies infer what %s do, bit for bit" % (batch, what), np.array_equal(a, b),
                    "max diff %g" % np.abs(a - b).max())
        train_alike("deep b%d" % batch, shared, others, inputs, w0, wd, 3)


# A fn called four times in a row over [B, T, C] with a class loss: each call's backward
# pass reads the gradient the next call's makes. dl-share-fn-bodies placed a call after
# its ops as it had collected them, while a call made before had moved some of them after
# itself: the call then read a result defined below it, and --kernels linalg's train step
# failed to compile ("operand does not dominate this use"; difftest seed 165802).
CHAIN = """
model Chain {
  input x: f32[B, 4, 8]
  input target: i32[B, 4]
  fn f(h) {
    a = dense(h, 8, name = "q")
    return a
  }
  y = f(f(f(f(x))))
  output y
  train {
    loss = nll(y, target)
    optimizer = OPT
  }
}
"""


def check_shared_chain():
    """CHAIN's calls share bodies and train bit for bit as the unrolled calls do."""
    rng = np.random.default_rng(5)
    src = source(CHAIN, "sgd(lr = 0.01)")
    wd = h.workdir()
    shared = h.compile_model(src, wd, "shared")
    unrolled = h.compile_model(src, wd, "unrolled", flags=["--share-fn-bodies=false"])
    ir = emit(wd, "shared", "llvm")
    h.check("chain: f compiled as a shared body", re.search(r"^define [^@]*@dl_fn_f_", ir, re.M) is not None)
    P = {n: torch.randn(*shape) * 0.3 for n, shape in
         [("f.%d.q.%s" % (k, p), (8, 8) if p == "weight" else (8,)) for k in range(4) for p in ("weight", "bias")]}
    w0 = save_weights(wd, P)
    inputs = {"x": rng.standard_normal((3, 4, 8)).astype(np.float32),
              "target": rng.integers(0, 8, (3, 4)).astype(np.int32)}
    train_alike("chain", shared, {"unrolled calls": unrolled}, inputs, w0, wd, 2)


def check_class_loss_terms():
    """Accuracy and the confusion matrix come from a classification loss that is the loss or
    the one such term of a sum of terms scaled by constants (a regulariser or a second head
    beside the classifier); where there are none or several, the log has no accuracy and the
    steps no predictions."""
    rng = np.random.default_rng(5)
    wd = h.workdir()
    inputs = mlp_inputs(9, rng)
    P = init_params(MLP_PARAMS, torch.float32)
    w0 = os.path.join(wd, "w0.safetensors")
    h.save_safetensors(w0, {k: v.numpy() for k, v in P.items()})
    want = accuracy(mlp_logits, "label")(P, torch_inputs(inputs, torch.float32))
    for i, (loss, predicts) in enumerate([
            ("cross_entropy(logits, label) + 0.01 * mean(h1 * h1)", True),
            ("0.5 * cross_entropy(logits, label) - mean(h2) / 4 + cross_entropy(logits, label) * 0.25", True),
            ("nll(log_softmax(logits), label) * 2", True),
            ("cross_entropy(logits, label) + nll(log_softmax(h2), label)", False),
            ("cross_entropy(logits, label) * mean(h1 * h1)", False),
            ("mse(logits, logits * 0.5) + 0.1 * mean(cast(label, f32))", False)]):
        so = h.compile_model(MLP.replace("cross_entropy(logits, label)", loss).replace("OPT", "sgd(lr = 0.1)")
                             .replace("CLIP", ""), wd, "terms%d" % i)
        log = os.path.join(wd, "terms%d.csv" % i)
        _, _, _, r = h.train_run(so, inputs, w0, wd, ["--steps", "1", "--log", log])
        row = dict(zip(*[line.split(",") for line in open(log).read().split()]))
        if predicts:
            h.check_close("loss = %s: the accuracy of its classifier's predictions" % loss, float(row["train_acc"]),
                          want, atol=1e-6, rtol=0)
            h.check("loss = %s: the summary's confusion matrix" % loss, "confusion" in r.stdout, r.stdout)
        else:
            h.check("loss = %s: no accuracy" % loss, row["train_acc"] == "" and "confusion" not in r.stdout,
                    str(row) + r.stdout)


def check_errors():
    wd = h.workdir()
    so = h.compile_model(source(MLP, "sgd(lr = 0.1)"), wd)
    P = init_params(MLP_PARAMS, torch.float32)
    w0 = save_weights(wd, P)
    rng = np.random.default_rng(3)
    inputs = mlp_inputs(4, rng)
    inputs["label"][2] = 5
    _, _, _, r = h.train_run(so, inputs, w0, wd, ["--steps", "1"], check=False)
    h.check("label out of range fails", r.returncode == 1 and "cross_entropy at" in r.stderr and "out of range" in r.stderr,
            r.stderr)
    h.check("nothing saved after a failed step", not os.path.exists(os.path.join(wd, "after.safetensors")))
    inputs = mlp_inputs(4, rng)
    inputs["x"][1, 3] = np.nan
    _, _, _, r = h.train_run(so, inputs, w0, wd, ["--steps", "1"], check=False)
    h.check("NaN loss stops with the step named", r.returncode == 1 and "step 1" in r.stderr and "nan" in r.stderr,
            r.stderr)
    # batch_norm of one value per channel in training (PyTorch refuses it too).
    so3 = h.compile_model(source(NORM1D, "sgd(lr = 0.1)"), wd, "norm1d")
    one = norm1d_inputs(1, rng)
    for k, a in one.items():
        np.save(os.path.join(wd, "one_%s.npy" % k), a)
    r = h.dlrun(["train", so3, "--steps", "1", "--input", "x=" + os.path.join(wd, "one_x.npy"),
                 "--input", "t=" + os.path.join(wd, "one_t.npy")], check=False)
    h.check("batch_norm of one value per channel fails naming the layer",
            r.returncode == 1 and "batch_norm at" in r.stderr and "at least 2 values per channel" in r.stderr, r.stderr)
    # A model without a train block.
    so2 = h.compile_model("model M {\n input x: f32[B, 3]\n output y = dense(x, 2)\n}\n", wd, "plain")
    r = h.dlrun(["train", so2, "--input", "x=" + os.path.join(wd, "train_x.npy")], check=False)
    h.check("a model without train block is refused", r.returncode == 1 and "no train block" in r.stderr, r.stderr)


def check_one_step_recurrence():
    """lstm and gru over a one-step sequence: the hidden weights meet only the zero state,
    so their gradient is zero, not absent, as in PyTorch, and weight decay and momentum
    still move them (found by the random-model test, seed 2037)."""
    src = """
model One {
  input x: f32[B, 1, 3]
  input label: i64[B]
  s = lstm(x, 4)
  g = gru(s, 4, sequences = false)
  logits = dense(g, 3)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = sgd(lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.05)
  }
}
"""
    params = [("s.weight_ih_l0", (16, 3)), ("s.weight_hh_l0", (16, 4)), ("s.bias_ih_l0", (16,)),
              ("s.bias_hh_l0", (16,)), ("g.weight_ih_l0", (12, 4)), ("g.weight_hh_l0", (12, 4)),
              ("g.bias_ih_l0", (12,)), ("g.bias_hh_l0", (12,)), ("logits.weight", (3, 4)), ("logits.bias", (3,))]
    wd = h.workdir()
    so = h.compile_model(src, wd)
    P = init_params(params, torch.float32, seed=5)
    w0 = save_weights(wd, P)
    rng = np.random.default_rng(5)
    inputs = {"x": rng.standard_normal((4, 1, 3)).astype(np.float32), "label": rng.integers(0, 3, 4).astype(np.int64)}
    after, _, _, _ = h.train_run(so, inputs, w0, wd, ["--steps", "2"])
    T = {k: v.clone().requires_grad_() for k, v in P.items()}
    opt = torch.optim.SGD(list(T.values()), lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05)
    I = torch_inputs(inputs, torch.float32)
    for _ in range(2):
        opt.zero_grad()
        s_out = recurrent(I["x"], T, "s.", 1, False)
        g_out = recurrent(s_out, T, "g.", 1, True)[:, -1]
        F.cross_entropy(linear(T, "logits", g_out), I["label"]).backward()
        opt.step()
    for k, v in T.items():
        h.check_close("one-step recurrence: %s after 2 steps" % k, after[k], v.detach().numpy(), atol=1e-4, rtol=1e-3)


def recurrent_gradients(label, src, params, loss, shapes):
    """One step of sgd(lr = 1) of a model of dynamic batch and length for each (b, T) of
    `shapes` gives every parameter's gradient of `loss`, as float64 autograd has it."""
    wd = h.workdir()
    so = h.compile_model(source(src, "sgd(lr = 1.0)"), wd, "dyn")  # a model without its train step fails train_run
    P = init_params(params)
    w0 = save_weights(wd, P)
    rng = np.random.default_rng(7)
    for batch, steps in shapes:
        inputs = {"x": rng.standard_normal((batch, steps, 3)).astype(np.float32),
                  "label": rng.integers(0, 3, batch).astype(np.int64)}
        after, _, _, _ = h.train_run(so, inputs, w0, wd, ["--steps", "1"])
        P64 = {k: v.to(torch.float32).to(torch.float64).requires_grad_() for k, v in P.items()}
        grads = torch.autograd.grad(loss(P64, torch_inputs(inputs, torch.float64)), list(P64.values()))
        for (pname, p), g in zip(P64.items(), grads):
            ref = g.numpy()
            got = p.detach().numpy() - after[pname].astype(np.float64)
            h.check_close("%s b%d T%d grad %s" % (label, batch, steps, pname), got, ref,
                          atol=1e-6 + 1e-5 * np.abs(ref).max(), rtol=1e-3)


def check_dynamic_length_recurrence():
    """lstm and gru over a sequence of dynamic length: the oneDNN path trains them on its
    RNN backward kernel, the portable path (and the GPU target) on its loop over time;
    every length gives torch's gradients."""
    recurrent_gradients("dynamic length", RNN.replace("f32[B, 5, 3]", "f32[B, T, 3]"), RNN_PARAMS, rnn_loss,
                        ((3, 1), (2, 4), (5, 9)))


# Slices along a dynamic length: to a bound from the end (a size that follows T), both
# bounds from the end (an offset that does), both from the start (T at least the end).
SLICES = """
model Slices {
  input x: f32[B, T, 3]
  input label: i64[B]
  e = dense(x, 8)
  m = mean(slice(e, 1, 0, -1), axis = 1) + mean(slice(e, 1, -3, -1), axis = 1) + mean(slice(e, 1, 1, 3), axis = 1)
  logits = dense(m, 3)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
SLICES_PARAMS = [("e.weight", (8, 3)), ("e.bias", (8,)), ("logits.weight", (3, 8)), ("logits.bias", (3,))]


def slices_loss(P, I):
    e = linear(P, "e", I["x"])
    m = e[:, 0:-1].mean(1) + e[:, -3:-1].mean(1) + e[:, 1:3].mean(1)
    return F.cross_entropy(linear(P, "logits", m), I["label"])


def check_dynamic_slices():
    """slice along a dynamic length gives torch's gradients for every length its bounds
    fit, and a length they do not fit is an error naming the slice (Python would clamp)."""
    recurrent_gradients("dynamic slices", SLICES, SLICES_PARAMS, slices_loss, ((2, 3), (3, 4), (5, 9)))
    wd = h.workdir()
    so = h.compile_model(source(SLICES, "sgd(lr = 1.0)"), wd, "slices")
    np.save(os.path.join(wd, "x.npy"), np.ones((2, 2, 3), np.float32))
    r = h.dlrun(["infer", so, "--input", "x=" + os.path.join(wd, "x.npy"), "--out-dir", wd], check=False)
    h.check("a length of 2 for slices to 3 and from -3 -> exit 1 naming the slice",
            r.returncode == 1 and "slice at" in r.stderr and "T = 2 (at least 3)" in r.stderr, r.stderr)


# LSTMs of whole blocks of 16 hidden units, which the oneDNN path trains on its native
# recurrence forward and backward (runtime/src/native/LstmBackward.cpp): two layers
# returning sequences whose input wants a gradient, one returning its last step, and one
# on the model's input, whose gradient the backward leaves out.
NATIVE_LSTM = """
model NativeLstm {
  input x: f32[B, T, 3]
  input label: i64[B]
  e = dense(x, 8)
  s = lstm(e, 16, layers = 2)
  g = lstm(s, 32, sequences = false)
  q = lstm(x, 32, sequences = false)
  logits = dense(g + q, 3)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
NATIVE_LSTM_PARAMS = [("e.weight", (8, 3)), ("e.bias", (8,))] + [
    ("%s.%s_l%d" % (name, kind, l), (4 * hidden, width if kind == "weight_ih" else hidden) if kind.startswith("weight")
     else (4 * hidden,))
    for name, hidden, widths in (("s", 16, (8, 16)), ("g", 32, (16,)), ("q", 32, (3,)))
    for l, width in enumerate(widths) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] + [
    ("logits.weight", (3, 32)), ("logits.bias", (3,))]


def native_lstm_loss(P, I):
    s = recurrent(linear(P, "e", I["x"]), P, "s.", 2, False)
    g = recurrent(s, P, "g.", 1, False)[:, -1]
    q = recurrent(I["x"], P, "q.", 1, False)[:, -1]
    return F.cross_entropy(linear(P, "logits", g + q), I["label"])


def check_native_lstm():
    """The native LSTM's train step: batches of whole groups of rows and of rows left over
    (groups of 6 on AVX2, 8 on AVX-512), one step and several."""
    recurrent_gradients("native lstm", NATIVE_LSTM, NATIVE_LSTM_PARAMS, native_lstm_loss,
                        ((1, 1), (3, 5), (7, 9), (9, 4), (13, 3), (16, 2)))


if __name__ == "__main__":  # test_precision.py imports the models
    check_recurrent_reference()
    check_one_step_recurrence()
    check_dynamic_length_recurrence()
    check_dynamic_slices()
    check_native_lstm()
    check_gradients()
    check_optimizers()
    check_lr_between_steps()
    check_shared_bodies()
    check_shared_chain()
    check_class_loss_terms()
    check_errors()
    h.finish()
