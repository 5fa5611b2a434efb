"""Layers with parameters (conv_transpose2d too) and the shape ops beyond the MLP set, against PyTorch on a
dynamic batch: convolutions (stride, padding incl. "same", dilation, groups, conv1d),
pooling, batch_norm with running statistics, layer_norm, embeddings, concat, slice and
multi-head attention (causal and not), and every activation fused into the dense or
convolution before it; 3x3 convolutions of 64 channels and more (Winograd in the runtime)
with an activation, a skip tensor and a folded batch_norm, and a run of them kept in
16-channel blocks through elementwise ops. Also: an out-of-range id is an error naming the
op's source location."""
import os

import numpy as np
import torch
import torch.nn.functional as F

import harness as h

SRC = """
model Layers {
  input img: f32[N, 3, 11, 10]
  input seq: f32[N, 5, 8]
  input ids: i64[N, 5]

  c1 = conv2d(img, 6, 3, padding = 1)
  c2 = conv2d(c1, 4, (3, 2), stride = (2, 1), dilation = (1, 2), bias = false)
  c3 = conv2d(c1, 6, 3, padding = "same", groups = 3)
  output o_c2 = c2
  output o_pool = max_pool2d(c3, 2)
  output o_avg = avg_pool2d(c3, 3, stride = 2, padding = 1)
  output o_gap = global_avg_pool2d(c3)
  bn = batch_norm(c3)
  output o_bn = bn
  output o_bn1d = batch_norm(seq, eps = 1e-3)
  output o_bn2d = batch_norm(mean(seq, axis = 1), name = "bn2d")
  output o_ln4d = layer_norm(c3, name = "ln4d")
  output o_conv1d = conv1d(seq, 4, 3, padding = "same", dilation = 2)
  output o_ln = layer_norm(seq)
  e = embedding(ids, 11, 8)
  p = position_embedding(ids, 7, 8)
  output o_emb = e + p
  output o_concat = concat((seq, e, p), axis = -1)
  output o_slice = slice(seq, 1, 1, -1)
  output o_slice_clamp = slice(seq, 2, -100, 100)
  output o_att = attention(seq, heads = 2)
  output o_up = conv_transpose2d(c3, 4, 3, stride = 2, padding = 1, output_padding = 1)
  output o_fold = conv2d(img, 5, 3, stride = 2) |> batch_norm(eps = 1e-3) |> relu
  r = conv2d(c1, 6, 3, padding = 1, name = "res") |> batch_norm(name = "res_bn")
  output o_residual = relu(r + conv2d(c1, 6, 1, name = "skip"))
  output o_up_op = conv_transpose2d(c3, 2, 2, stride = 2, output_padding = 1)
  output o_up_g = conv_transpose2d(c3, 4, (2, 3), stride = (1, 2), groups = 2, dilation = 2, bias = false)
  output o_up_dil = conv_transpose2d(c3, 2, (2, 3), stride = (1, 2), padding = (0, 1), output_padding = 1, dilation = 2)
  output o_causal = attention(layer_norm(seq), 4, causal = true)
  output o_gelu = dense(seq, 6, name = "act1") |> gelu
  output o_gelu_tanh = dense(seq, 6, name = "act2") |> gelu(approximate = "tanh")
  output o_sigmoid = dense(seq, 6, name = "act3") |> sigmoid
  output o_tanh = dense(seq, 6, name = "act4", bias = false) |> tanh
  output o_silu = conv2d(img, 4, 3, name = "act5") |> silu
  output o_conv_gelu = conv2d(img, 4, 3, padding = 1, name = "act6") |> gelu
  sk = conv2d(c1, 6, 1, name = "skip2")
  output o_residual_live = conv2d(c1, 6, 3, padding = 1, name = "res2") + sk
  output o_skip_after = sk * 2
  output o_residual_input = conv2d(img, 3, 3, padding = 1, name = "res3") + img
  w64 = conv2d(img, 64, 3, padding = 1, name = "w64")
  output o_wino = conv2d(w64, 80, 3, padding = 1, name = "wino") |> relu
  output o_wino_res = relu(conv2d(w64, 64, 3, padding = 1, bias = false, name = "wino_res") + w64)
  output o_wino_bn = conv2d(w64, 64, 3, padding = "same", name = "wino_c") |> batch_norm(name = "wino_bn")
  wa = conv2d(w64, 64, 3, padding = 1, name = "wc1")
  wb = conv2d(w64, 64, 3, padding = 1, name = "wc3")
  output o_wino_chain = conv2d(exp(wa) + wb, 64, 3, padding = 1, name = "wc2")
}
"""


class Layers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.c2 = torch.nn.Conv2d(6, 4, (3, 2), stride=(2, 1), dilation=(1, 2), bias=False)
        self.c3 = torch.nn.Conv2d(6, 6, 3, padding="same", groups=3)
        self.bn = torch.nn.BatchNorm2d(6)
        self.o_bn1d = torch.nn.BatchNorm1d(5, eps=1e-3)
        self.o_conv1d = torch.nn.Conv1d(5, 4, 3, padding="same", dilation=2)
        self.o_ln = torch.nn.LayerNorm(8)
        self.bn2d = torch.nn.BatchNorm1d(8)
        self.ln4d = torch.nn.LayerNorm(10)
        self.e = torch.nn.Embedding(11, 8)
        self.p = torch.nn.Embedding(7, 8)  # position_embedding: learned rows 0..T-1
        self.o_att = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        self.layer_norm = torch.nn.LayerNorm(8)
        self.o_causal = torch.nn.MultiheadAttention(8, 4, batch_first=True)
        self.o_up = torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
        self.conv2d = torch.nn.Conv2d(3, 5, 3, stride=2)
        self.o_fold = torch.nn.BatchNorm2d(5, eps=1e-3)
        self.res = torch.nn.Conv2d(6, 6, 3, padding=1)
        self.res_bn = torch.nn.BatchNorm2d(6)
        self.skip = torch.nn.Conv2d(6, 6, 1)
        self.o_up_op = torch.nn.ConvTranspose2d(6, 2, 2, stride=2, output_padding=1)
        self.o_up_g = torch.nn.ConvTranspose2d(6, 4, (2, 3), stride=(1, 2), groups=2, dilation=2, bias=False)
        # output_padding past padding with dilation: rows (columns) no window reaches, the
        # bias alone there (oneDNN refuses the negative padding that would give them).
        self.o_up_dil = torch.nn.ConvTranspose2d(6, 2, (2, 3), stride=(1, 2), padding=(0, 1), output_padding=1,
                                                 dilation=2)
        # Activations that run as oneDNN post-ops of the dense or convolution before them.
        self.act1 = torch.nn.Linear(8, 6)
        self.act2 = torch.nn.Linear(8, 6)
        self.act3 = torch.nn.Linear(8, 6)
        self.act4 = torch.nn.Linear(8, 6, bias=False)
        self.act5 = torch.nn.Conv2d(3, 4, 3)
        self.act6 = torch.nn.Conv2d(3, 4, 3, padding=1)
        # Skip tensors the convolution's result is written over: dead after it, still read
        # after it (then copied first), and a model input.
        self.skip2 = torch.nn.Conv2d(6, 6, 1)
        self.res2 = torch.nn.Conv2d(6, 6, 3, padding=1)
        self.res3 = torch.nn.Conv2d(3, 3, 3, padding=1)
        # 64 channels and more, 3x3, stride 1: the runtime convolves them by Winograd's algorithm.
        self.w64 = torch.nn.Conv2d(3, 64, 3, padding=1)
        self.wino = torch.nn.Conv2d(64, 80, 3, padding=1)
        self.wino_res = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.wino_c = torch.nn.Conv2d(64, 64, 3, padding="same")
        self.wino_bn = torch.nn.BatchNorm2d(64)
        # Kept in 16-channel blocks from wc1 and wc3 through exp and + into wc2.
        self.wc1 = torch.nn.Conv2d(64, 64, 3, padding=1)
        self.wc3 = torch.nn.Conv2d(64, 64, 3, padding=1)
        self.wc2 = torch.nn.Conv2d(64, 64, 3, padding=1)
        for bn in (self.bn, self.o_bn1d, self.o_fold, self.res_bn, self.bn2d, self.wino_bn):  # non-trivial running statistics
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)
        for ln in (self.o_ln, self.layer_norm, self.ln4d):
            ln.weight.data.uniform_(0.5, 1.5)
            ln.bias.data.uniform_(-0.5, 0.5)
        for att in (self.o_att, self.o_causal):
            att.in_proj_bias.data.uniform_(-0.2, 0.2)
            att.out_proj.bias.data.uniform_(-0.2, 0.2)

    def forward(self, img, seq, ids):
        o = {}
        c1 = self.c1(img)
        o["o_c2"] = self.c2(c1)
        c3 = self.c3(c1)
        o["o_pool"] = F.max_pool2d(c3, 2)
        o["o_avg"] = F.avg_pool2d(c3, 3, stride=2, padding=1)
        o["o_gap"] = c3.mean((2, 3))
        o["o_bn"] = self.bn(c3)
        o["o_bn1d"] = self.o_bn1d(seq)
        o["o_conv1d"] = self.o_conv1d(seq)
        o["o_ln"] = self.o_ln(seq)
        o["o_bn2d"] = self.bn2d(seq.mean(1))
        o["o_ln4d"] = self.ln4d(c3)
        e = self.e(ids)
        p = self.p.weight[: ids.shape[1]].unsqueeze(0).expand(ids.shape[0], -1, -1)
        o["o_emb"] = e + p
        o["o_concat"] = torch.cat((seq, e, p), -1)
        o["o_slice"] = seq[:, 1:-1]
        o["o_slice_clamp"] = seq[:, :, -100:100]
        o["o_att"] = self.o_att(seq, seq, seq, need_weights=False)[0]
        o["o_up"] = self.o_up(c3)
        o["o_up_g"] = self.o_up_g(c3)
        o["o_up_op"] = self.o_up_op(c3)
        o["o_up_dil"] = self.o_up_dil(c3)
        o["o_residual"] = torch.relu(self.res_bn(self.res(c1)) + self.skip(c1))
        o["o_fold"] = torch.relu(self.o_fold(self.conv2d(img)))
        x = self.layer_norm(seq)
        t = seq.shape[1]
        mask = torch.triu(torch.full((t, t), float("-inf")), 1)
        o["o_causal"] = self.o_causal(x, x, x, attn_mask=mask, need_weights=False)[0]
        o["o_gelu"] = F.gelu(self.act1(seq))
        o["o_gelu_tanh"] = F.gelu(self.act2(seq), approximate="tanh")
        o["o_sigmoid"] = torch.sigmoid(self.act3(seq))
        o["o_tanh"] = torch.tanh(self.act4(seq))
        o["o_silu"] = F.silu(self.act5(img))
        o["o_conv_gelu"] = F.gelu(self.act6(img))
        sk = self.skip2(c1)
        o["o_residual_live"] = self.res2(c1) + sk
        o["o_skip_after"] = sk * 2
        o["o_residual_input"] = self.res3(img) + img
        w64 = self.w64(img)
        o["o_wino"] = torch.relu(self.wino(w64))
        o["o_wino_res"] = torch.relu(self.wino_res(w64) + w64)
        o["o_wino_bn"] = self.wino_bn(self.wino_c(w64))
        o["o_wino_chain"] = self.wc2(torch.exp(self.wc1(w64)) + self.wc3(w64))
        return o


torch.manual_seed(0)
wd = h.workdir()
ref = Layers().eval()
state = h.state_dict_numpy(ref)
# position_embedding's parameter is called p.weight like the Embedding standing in for it.
so, weights = h.compile_with_weights(SRC, ref, wd)
rng = np.random.RandomState(3)
# Winograd's transforms round differently from a direct convolution: on outputs up to 1.4,
# where PyTorch's own float32 result is 4.5e-7 from float64, F(2x2, 3x3) and oneDNN's
# F(4x4, 3x3) are within 3e-6, and the runtime's F(4x4, 3x3) (batch 5 here: 45 tiles of
# 4x4) within 5.3e-6. Its outputs get atol 1e-5, the others the harness's 1e-6.
last = {}


def make_inputs(batch):
    last.update(img=rng.randn(batch, 3, 11, 10).astype(np.float32), seq=rng.randn(batch, 5, 8).astype(np.float32),
                ids=rng.randint(0, 11, size=(batch, 5)).astype(np.int64))
    return dict(last)


h.check_outputs(so, weights, ref, (1, 2, 5), make_inputs,
                atol_for=lambda name: 1e-5 if name.startswith("o_wino") else h.ATOL)
img, seq, ids = last["img"], last["seq"], last["ids"]

# An id out of range: exit 1 and a message that names the embedding's line.
ids[0, 2] = 11
bad = os.path.join(wd, "ids.npy")
np.save(bad, ids)
args = ["infer", so, "--weights", weights, "--out-dir", wd, "--input", "ids=" + bad]
for name, a in (("img", img), ("seq", seq)):
    np.save(os.path.join(wd, name + ".npy"), a)
    args += ["--input", "%s=%s" % (name, os.path.join(wd, name + ".npy"))]
r = h.dlrun(args, check=False)
h.check("out-of-range id -> exit 1 naming the op", r.returncode == 1 and "embedding at" in r.stderr
        and "model.dl:21:7" in r.stderr and "index 11" in r.stderr, r.stderr)

# A kernel that does not fit an input whose size is symbolic: an error naming the layer
# before anything runs, as PyTorch raises one. (A result sized 0 came out NaN from the
# mean after it; one sized below 0, an allocation of 2^64 - 192 bytes refused as out of
# memory.) Sizes that fit run.
FIT = """model Fit {
  input x: f32[N, 2, H, W]
  y = conv2d(x, 3, 3) |> max_pool2d(2)
  output o = global_avg_pool2d(y)
}
"""
fit = h.compile_model(FIT, wd, "fit")
r = h.dlrun(["info", fit], check=False)
h.check("dlrun info lists what the sizes must be, and its call with every symbol 1 fails naming the layer",
        r.returncode == 1 and "(H+-2) >= 1" in r.stdout and "max_pool2d at" in r.stdout
        and "conv2d at" in r.stderr and "H = 1" in r.stderr, r.stdout + r.stderr)
r = h.dlrun(["info", fit, "--batch", "6"], check=False)
h.check("dlrun info --batch 6 plans the arena", r.returncode == 0 and "with every symbolic dim = 6" in r.stdout,
        r.stdout + r.stderr)
for (height, width), layer, size in (((2, 8), "conv2d at", "(H+-2) = 0"), ((8, 1), "conv2d at", "(W+-2) = -1"),
                                     ((3, 8), "max_pool2d at", "= 0"), ((4, 4), None, None)):
    x = np.random.RandomState(height).randn(2, 2, height, width).astype(np.float32)
    np.save(os.path.join(wd, "x.npy"), x)
    r = h.dlrun(["infer", fit, "--out-dir", wd, "--input", "x=" + os.path.join(wd, "x.npy")], check=False)
    if layer is None:
        h.check("a %dx%d input the kernels fit runs" % (height, width),
                r.returncode == 0 and np.isfinite(np.load(os.path.join(wd, "o.npy"))).all(), r.stderr)
    else:
        h.check("a %dx%d input the kernels do not fit -> exit 1 naming the layer and its size" % (height, width),
                r.returncode == 1 and layer in r.stderr and "does not fit" in r.stderr and size in r.stderr, r.stderr)

# reshape's -1 over a symbolic size the other dims do not divide: an error, as PyTorch's
# (a [2, 3] input into rows of 4 came out [1, 4], two elements dropped).
ROWS = """model Rows {
  input x: f32[N, T]
  output y = reshape(x, (-1, 4))
}
"""
rows = h.compile_model(ROWS, wd, "rows")
for t in (3, 6):
    x = np.arange(2 * t, dtype=np.float32).reshape(2, t)
    np.save(os.path.join(wd, "x.npy"), x)
    r = h.dlrun(["infer", rows, "--out-dir", wd, "--input", "x=" + os.path.join(wd, "x.npy")], check=False)
    if t % 2:
        h.check("reshape of [2, %d] into rows of 4 -> exit 1 naming it" % t,
                r.returncode == 1 and "reshape at" in r.stderr and "not a multiple of 4" in r.stderr
                and "N = 2, T = %d" % t in r.stderr, r.stderr)
    else:
        h.check("reshape of [2, %d] into rows of 4" % t,
                r.returncode == 0 and np.array_equal(np.load(os.path.join(wd, "y.npy")), x.reshape(-1, 4)), r.stderr)
h.finish()
