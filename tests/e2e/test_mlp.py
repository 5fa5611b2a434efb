"""samples/mlp against PyTorch: shared weights through safetensors, several batch sizes
from one model.so, 1 and 2 threads."""
import os

import numpy as np
import torch

import harness as h

torch.manual_seed(0)


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = torch.nn.Linear(64, 128)
        self.h2 = torch.nn.Linear(128, 64)
        self.logits = torch.nn.Linear(64, 10)

    def forward(self, x):
        logits = self.logits(torch.relu(self.h2(torch.relu(self.h1(x)))))
        return logits, torch.softmax(logits, -1)


wd = h.workdir()
ref = Mlp().eval()
so, weights = h.compile_with_weights(os.path.join(h.SRC, "samples", "mlp", "mlp.dl"), ref, wd)

rng = np.random.RandomState(1)
for batch in (1, 7, 64):
    x = rng.randn(batch, 64).astype(np.float32)
    with torch.no_grad():
        logits, probs = ref(torch.from_numpy(x))
    for threads in (1, 2):
        out = h.infer(so, {"x": x}, weights=weights, threads=threads)
        h.check_close("logits b%d t%d" % (batch, threads), out["logits"], logits.numpy())
        h.check_close("probs b%d t%d" % (batch, threads), out["probs"], probs.numpy())

# Default initialisation: PyTorch's Linear bounds, and the same seed gives the same result.
x = rng.randn(3, 64).astype(np.float32)
a = h.infer(so, {"x": x})
b = h.infer(so, {"x": x})
h.check("seeded init is reproducible", np.array_equal(a["logits"], b["logits"]))
h.check("seeded init gives finite, non-trivial outputs",
        np.all(np.isfinite(a["logits"])) and np.abs(a["logits"]).max() > 1e-3)

# Bad input is an error with a message, never a crash.
bad = os.path.join(wd, "bad.npy")
np.save(bad, rng.randn(3, 63).astype(np.float32))
r = h.dlrun(["infer", so, "--input", "x=" + bad, "--out-dir", wd], check=False)
h.check("wrong shape -> exit 1", r.returncode == 1 and "expected shape [B, 64], got [3, 63]" in r.stderr, r.stderr)
with open(bad, "rb") as f:
    data = f.read()
with open(bad, "wb") as f:
    f.write(data[: len(data) // 2])
r = h.dlrun(["infer", so, "--input", "x=" + bad, "--out-dir", wd], check=False)
h.check("truncated .npy -> exit 1", r.returncode == 1 and "truncated" in r.stderr, r.stderr)
np.save(bad, rng.randn(3, 64))
r = h.dlrun(["infer", so, "--input", "x=" + bad, "--out-dir", wd], check=False)
h.check("float64 input is cast with a warning", r.returncode == 0 and "float64" in r.stderr, r.stderr)
r = h.dlrun(["infer", so, "--out-dir", wd], check=False)
h.check("missing input -> exit 1", r.returncode == 1 and "missing --input x" in r.stderr, r.stderr)
trunc = os.path.join(wd, "trunc.safetensors")
with open(weights, "rb") as f:
    data = f.read()
with open(trunc, "wb") as f:
    f.write(data[:-100])
r = h.dlrun(["infer", so, "--input", "x=" + os.path.join(wd, "in_x.npy"), "--weights", trunc, "--out-dir", wd], check=False)
h.check("truncated safetensors -> exit 1", r.returncode == 1 and "truncated" in r.stderr, r.stderr)
h.finish()
