"""Inference split across the batch (dl-mark-batch-split, runtime/src/BatchSplit.cpp): where
the compiler proves that no op lets one sample reach another, a session on two threads
runs the entry on slices of the batch side by side, each on one thread, into its rows of
the outputs.

DLRT_BATCH_SPLIT=always makes the runtime split every call it may from the first, however
small (by default it splits calls of enough work, from the second with given shapes on);
=off runs every call whole. Checked here:
- the samples (every op kind the benchmark models use) split at batches 2, 3 and 5
  (slices of 1 and 2 rows, uneven) against PyTorch;
- a model with an input free of the batch (passed whole to every slice) and two outputs,
  against PyTorch; with --kernels linalg, where every op is generated code that computes a
  row the same way whatever the batch, split and whole calls agree bit for bit;
- the default choice: split where a call's work is worth a second thread, else whole;
- models whose ops mix samples (a mean over the batch, a softmax along it) are not marked
  and compute PyTorch's numbers on two threads with the split asked for."""
import os

import numpy as np
import torch

import harness as h
import models

os.environ["DLRT_BATCH_SPLIT"] = "always"


def marked(so):
    with open(so, "rb") as f:
        return b'"batch_split"' in f.read()


def infer(so, inputs, weights, split, splits=None):
    """dlrun infer on two threads with the split asked for (`split`), or one thread and
    none; checks whether dlrun said the batch was split, where `splits` says it must be
    (default: as asked)."""
    os.environ["DLRT_BATCH_SPLIT"] = "always" if split else "off"
    outs, report = h.infer_report(so, inputs, weights=weights, threads=2 if split else 1)
    said = "batch: split into 2 slices" in report
    want = split if splits is None else splits
    if said != want:
        h.check("%s: batch split %s" % (so, "expected" if want else "not expected"), False, report)
    return outs


torch.manual_seed(0)
rng = np.random.RandomState(11)

# The samples: every op of the benchmark models, split.
samples = [
    ("mlp784", models.Mlp784(), lambda b: {"x": rng.randn(b, 784).astype(np.float32)}, (2, 3, 5)),
    ("cnn", models.Cnn(), lambda b: {"image": rng.randn(b, 1, 28, 28).astype(np.float32)}, (2, 3, 5)),
    ("lstm", models.SeqClassifier(), lambda b: {"x": rng.randn(b, 50, 32).astype(np.float32)}, (2, 3, 5)),
    ("gpt", models.TinyGpt(), lambda b: {"tokens": rng.randint(0, 256, size=(b, 64)).astype(np.int64)}, (2, 3)),
    ("resnet18", models.ResNet18(), lambda b: {"image": rng.randn(b, 3, 224, 224).astype(np.float32)}, (2,)),
]
sample_so = {}
for name, ref, make, batches in samples:
    models.randomise_batch_norms(ref)
    ref.eval()
    wd = h.workdir()
    so, weights = h.compile_with_weights(os.path.join(h.SRC, "samples", name, name + ".dl"), ref, wd)
    h.check("%s is marked for splitting" % name, marked(so))
    sample_so[name] = so
    for b in batches:
        inputs = make(b)
        with torch.no_grad():
            want = ref(*[torch.from_numpy(v) for v in inputs.values()]).numpy()
        h.check_close("%s b%d split" % (name, b), infer(so, inputs, weights, True)["logits"], want)

# An input free of the batch goes whole to every slice; two outputs, each sliced.
SHARED = """
model Shared {
  input x: f32[B, T, 8]
  input shift: f32[T, 8]
  h = dense(x + shift, 16) |> relu
  output y = softmax(h, axis = -1)
  output s = sum(h, axis = 1)
}
"""


class Shared(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.h = torch.nn.Linear(8, 16)

    def forward(self, x, shift):
        hh = torch.relu(self.h(x + shift))
        return {"y": torch.softmax(hh, -1), "s": hh.sum(1)}


ref = Shared()
for flags in ((), ("--kernels=linalg",)):
    wd = h.workdir()
    so, weights = h.compile_with_weights(SHARED, ref, wd, flags=flags)
    kind = flags[0] if flags else "onednn"
    h.check("Shared (%s) is marked for splitting" % kind, marked(so))
    for b, t in ((2, 5), (3, 4), (7, 6)):
        inputs = {"x": rng.randn(b, t, 8).astype(np.float32), "shift": rng.randn(t, 8).astype(np.float32)}
        with torch.no_grad():
            want = ref(*[torch.from_numpy(v) for v in inputs.values()])
        split = infer(so, inputs, weights, True)
        for out in ("y", "s"):
            h.check_close("Shared %s b%d T%d %s split" % (kind, b, t, out), split[out], want[out].numpy())
        if flags:
            whole = infer(so, inputs, weights, False)
            for out in ("y", "s"):
                h.check("Shared linalg b%d %s: split equals whole bit for bit" % (b, out),
                        np.array_equal(split[out], whole[out]))

# Ops that mix samples: no mark, and the right numbers on two threads all the same.
MIXING = [
    ("centred", "model Centred {\n  input x: f32[N, 6]\n  output y = x - mean(x, axis = 0, keepdims = true)\n}\n",
     lambda x: x - x.mean(0, keepdim=True)),
    ("softmax over the batch", "model Across {\n  input x: f32[N, 6]\n  output y = softmax(x, axis = 0)\n}\n",
     lambda x: torch.softmax(x, 0)),
]
for what, src, fn in MIXING:
    wd = h.workdir()
    so = h.compile_model(src, wd)
    h.check("%s is not marked" % what, not marked(so))
    x = rng.randn(5, 6).astype(np.float32)
    h.check_close("%s on two threads" % what, infer(so, {"x": x}, None, True, splits=False)["y"],
                  fn(torch.from_numpy(x)).numpy())
# The runtime's own choice (DLRT_BATCH_SPLIT unset): a call is split from the second with
# given shapes on, where the first did enough kernel work (the CNN at batch 16: 33 MFLOP),
# never at batch 1 nor for little work (the MLP at batch 2: 1 MFLOP).
os.environ.pop("DLRT_BATCH_SPLIT", None)
for name, batch, want in (("cnn", 16, True), ("cnn", 1, False), ("mlp784", 2, False)):
    r = h.dlrun(["bench", sample_so[name], "--batch", str(batch), "--threads", "2", "--seconds", "0.2"])
    h.check("%s b%d on two threads: %s by default" % (name, batch, "split" if want else "whole"),
            ("batch: split into 2 slices" in r.stdout) == want, r.stdout)
h.finish()
