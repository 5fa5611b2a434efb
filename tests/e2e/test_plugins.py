"""Plugin layers against PyTorch: the shipped rms_norm (a run-time kernel with a backward
kernel) and mish (a linalg lowering with a linalg gradient), forward on a dynamic batch,
their gradients through a train step, and several optimizer steps of a model that
trains through them. DLC_FLAGS=--kernels=linalg runs the same on the portable lowering.

RMSNorm is written in torch ops (PyTorch 1.13 has no module for it). Tolerances:
forward 1e-5 + 1e-5 |ref| against a float64 reference (float32 arithmetic); gradients
(sgd with lr = 1 leaves w - grad) 1e-6 + 1e-5 max|g| + 1e-3 |g|; optimizer steps
TOOLS.md's 1e-4 + 1e-3 |v|."""
import os

import numpy as np
import torch
import torch.nn.functional as F

import harness as h

PLUGINS = os.environ.get("DLC_PLUGIN_DIR", os.path.join(h.BIN, "..", "lib", "dlc-plugins"))
os.environ["DLC_FLAGS"] = (os.environ.get("DLC_FLAGS", "") + " --plugin %s/librms_norm.so --plugin %s/libmish.so"
                           % (PLUGINS, PLUGINS))
os.environ["DLRT_PLUGIN_PATH"] = PLUGINS


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def mish(x):
    return x * torch.tanh(F.softplus(x))


FORWARD = """
model Norm {
  input x: f32[B, T, 24]
  y = rms_norm(x, eps = 1e-5)
  z = mish(y) + mish(x)
  output z
}
"""


def check_forward():
    wd = h.workdir()
    so = h.compile_model(FORWARD, wd)
    rng = np.random.default_rng(0)
    w = (rng.standard_normal(24) * 0.5 + 1).astype(np.float32)
    weights = os.path.join(wd, "w.safetensors")
    h.save_safetensors(weights, {"y.weight": w})
    for b, t in ((1, 1), (3, 5), (7, 2)):
        x = (rng.standard_normal((b, t, 24)) * 3).astype(np.float32)
        x[0, 0, :3] = [40.0, -40.0, 0.0]  # mish's far tails
        got = h.infer(so, {"x": x}, weights, wd)["z"]
        X = torch.from_numpy(x).double()
        ref = mish(rms_norm(X, torch.from_numpy(w).double(), 1e-5)) + mish(X)
        h.check_close("forward b%d t%d" % (b, t), got, ref.numpy(), atol=1e-5, rtol=1e-5)


CONV = """
model Conv {
  input x: f32[B, 3, 8, 8]
  c = conv2d(x, 64, 3, padding = 1)
  n = rms_norm(c)
  m = mish(n)
  y = conv2d(m, 64, 3, padding = 1) |> relu
  z = conv2d(y, 64, 3, padding = 1)
  output z
}
"""


def check_after_convolutions():
    """Between convolutions that run on NHWC or 16-channel blocks (64 channels: Winograd)
    on the oneDNN path, the
    plugin's kernel still gets the NCHW tensor the model means (rms_norm normalises W)."""
    wd = h.workdir()
    so = h.compile_model(CONV, wd)
    rng = np.random.default_rng(3)
    P = {"c.weight": rng.standard_normal((64, 3, 3, 3)) * 0.3, "c.bias": rng.standard_normal(64) * 0.1,
         "n.weight": rng.standard_normal(8) * 0.3 + 1, "y.weight": rng.standard_normal((64, 64, 3, 3)) * 0.05, "z.weight": rng.standard_normal((64, 64, 3, 3)) * 0.05,
         "y.bias": rng.standard_normal(64) * 0.1, "z.bias": rng.standard_normal(64) * 0.1}
    P = {k: v.astype(np.float32) for k, v in P.items()}
    weights = os.path.join(wd, "w.safetensors")
    h.save_safetensors(weights, P)
    T = {k: torch.from_numpy(v).double() for k, v in P.items()}
    for b in (1, 4):
        x = rng.standard_normal((b, 3, 8, 8)).astype(np.float32)
        got = h.infer(so, {"x": x}, weights, wd)["z"]
        c = F.conv2d(torch.from_numpy(x).double(), T["c.weight"], T["c.bias"], padding=1)
        m = mish(rms_norm(c, T["n.weight"], 1e-6))
        y = torch.relu(F.conv2d(m, T["y.weight"], T["y.bias"], padding=1))
        ref = F.conv2d(y, T["z.weight"], T["z.bias"], padding=1)
        h.check_close("conv, rms_norm, mish, winograd convs b%d" % b, got, ref.numpy(), atol=1e-4, rtol=1e-4)


TRAIN = """
model Net {
  input x: f32[B, 12]
  input label: i64[B]
  a = dense(x, 16)
  n = rms_norm(a)
  m = mish(n)
  logits = dense(m, 5)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = OPT
  }
}
"""
PARAMS = [("a.weight", (16, 12)), ("a.bias", (16,)), ("n.weight", (16,)), ("logits.weight", (5, 16)),
          ("logits.bias", (5,))]


def net_loss(P, I):
    a = F.linear(I["x"], P["a.weight"], P["a.bias"])
    m = mish(rms_norm(a, P["n.weight"], 1e-6))
    return F.cross_entropy(F.linear(m, P["logits.weight"], P["logits.bias"]), I["label"])


def init(seed):
    g = torch.Generator().manual_seed(seed)
    P = {n: (torch.rand(s, generator=g, dtype=torch.float64) * 2 - 1).to(torch.float32) for n, s in PARAMS}
    P["n.weight"] = P["n.weight"] * 0.5 + 1
    return P


def inputs(b, rng):
    return {"x": rng.standard_normal((b, 12)).astype(np.float32), "label": rng.integers(0, 5, b).astype(np.int64)}


def torch_inputs(I, dtype):
    return {"x": torch.from_numpy(I["x"]).to(dtype), "label": torch.from_numpy(I["label"])}


def check_gradients():
    rng = np.random.default_rng(1)
    wd = h.workdir()
    so = h.compile_model(TRAIN.replace("OPT", "sgd(lr = 1.0)"), wd)
    P = init(0)
    w0 = os.path.join(wd, "w0.safetensors")
    h.save_safetensors(w0, {k: v.numpy() for k, v in P.items()})
    for b in (3, 8):
        I = inputs(b, rng)
        after, _, _, _ = h.train_run(so, I, w0, wd, ["--steps", "1"])
        P64 = {k: v.double().requires_grad_() for k, v in P.items()}
        grads = torch.autograd.grad(net_loss(P64, torch_inputs(I, torch.float64)), list(P64.values()))
        for (name, p), g in zip(P64.items(), grads):
            got = p.detach().numpy() - after[name].astype(np.float64)
            ref = g.numpy()
            h.check_close("b%d grad %s" % (b, name), got, ref, atol=1e-6 + 1e-5 * np.abs(ref).max(), rtol=1e-3)


def check_training():
    rng = np.random.default_rng(2)
    steps = 4
    wd = h.workdir()
    so = h.compile_model(TRAIN.replace("OPT", "adamw(lr = 0.01)"), wd)
    P = init(3)
    w0 = os.path.join(wd, "w0.safetensors")
    h.save_safetensors(w0, {k: v.numpy() for k, v in P.items()})
    I = inputs(10, rng)
    after, _, _, _ = h.train_run(so, I, w0, wd, ["--steps", str(steps)])
    T = {k: v.clone().requires_grad_() for k, v in P.items()}
    opt = torch.optim.AdamW(list(T.values()), lr=0.01)
    small = {k: np.zeros(v.shape, bool) for k, v in T.items()}
    for _ in range(steps):
        opt.zero_grad()
        net_loss(T, torch_inputs(I, torch.float32)).backward()
        for k, v in T.items():
            small[k] |= v.grad.abs().numpy() < 1e-6
        opt.step()
    for k, v in T.items():
        keep = ~small[k]
        h.check_close("adamw %d steps %s" % (steps, k), after[k][keep], v.detach().numpy()[keep], atol=1e-4, rtol=1e-3)


check_forward()
check_after_convolutions()
check_gradients()
check_training()
h.finish()
