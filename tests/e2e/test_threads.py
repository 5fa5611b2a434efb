"""Generated loop nests split over threads (dlc --parallel-loops, the default: dl-outline-kernels' row
ranges, run by dlrt_k_parallel_rows): the same numbers on 1 and 2 threads, and PyTorch's.

With --kernels linalg every op is generated code, so a run on two threads differs from one
on one thread only in which thread computes which rows: the results must be equal bit for
bit, inference (whose 64x256x512 matmul is split from the first call) and five train steps
(after the first, the thread policy runs every kernel on both threads). With oneDNN's
kernels, whose own results depend on the thread count, the two agree within float
tolerance. Both are checked against PyTorch, at batch 64, at 7 (7 rows split unevenly) and
at 1024 (the weight gradients' long sums split over the threads).
Built with --parallel-loops=false (every nest whole, on the calling thread), the linalg
model computes the same bits again: a row's code does not depend on how the rows are cut.

Nests are split only where OpenMP's idle workers spin, so dlrun runs here with its own
short spin rather than the passive wait the other tests share the cores with; and with
the passive wait the split build gives the same bits once more."""
import os

import numpy as np
import torch

import harness as h

# dlrun's own setting (it re-executes itself with GOMP_SPINCOUNT=10000 unless a wait policy
# is set): workers spin briefly, and nests are split.
os.environ.pop("OMP_WAIT_POLICY", None)
os.environ["GOMP_SPINCOUNT"] = "10000"

SRC = """
model Wide {
  input x: f32[B, 256]
  input label: i64[B]
  h = dense(x, 512) |> layer_norm |> gelu
  logits = dense(h, 16)
  output logits
  output probs = softmax(logits)
  train {
    loss = cross_entropy(logits, label)
    optimizer = adam(lr = 1e-3)
  }
}
"""


class Wide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = torch.nn.Linear(256, 512)
        self.h = torch.nn.LayerNorm(512)
        self.logits = torch.nn.Linear(512, 16)

    def forward(self, x):
        return self.logits(torch.nn.functional.gelu(self.h(self.dense(x))))


torch.manual_seed(0)
rng = np.random.RandomState(0)
STEPS = 5
ref = Wide()


def reference(x, label):
    """PyTorch's logits, and its weights after STEPS Adam steps on (x, label)."""
    with torch.no_grad():
        logits = ref(torch.from_numpy(x)).numpy()
    trained = Wide()
    trained.load_state_dict(ref.state_dict())
    opt = torch.optim.Adam(trained.parameters(), lr=1e-3)
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(trained(torch.from_numpy(x)), torch.from_numpy(label)).backward()
        opt.step()
    return logits, h.state_dict_numpy(trained)


# Batch 64, and 7 (the batch dim is dynamic; 7 rows split unevenly over 2 threads), and
# 1024: there the weight gradients dY^T X (512 x 1024 x 256, 16 x 1024 x 512) sum over
# enough rows that oneDNN's products split the sum over the two threads.
data = {}
for batch in (64, 7, 1024):
    x = rng.randn(batch, 256).astype(np.float32)
    label = rng.randint(0, 16, batch).astype(np.int64)
    data[batch] = (x, label) + reference(x, label)

results = {}  # (build, batch) -> (logits, weights after STEPS) on each thread count
for kernels, rows, wait in (("linalg", "true", ""), ("onednn", "true", ""), ("linalg", "false", ""),
                            ("linalg", "true", "passive")):
    build = "%s parallel-loops=%s%s" % (kernels, rows, " " + wait if wait else "")
    if wait:
        os.environ["OMP_WAIT_POLICY"] = wait
    wd = h.workdir()
    so, weights = h.compile_with_weights(SRC, ref, wd, flags=("--kernels=" + kernels, "--parallel-loops=" + rows))
    for batch, (x, label, logits, after_ref) in data.items():
        outs, afters = {}, {}
        for threads in (1, 2):
            what = "%s b%d t%d" % (build, batch, threads)
            out = h.infer(so, {"x": x, "label": label}, weights=weights, threads=threads)
            h.check_close("%s logits" % what, out["logits"], logits)
            outs[threads] = out
            twd = os.path.join(wd, "b%d_t%d" % (batch, threads))
            os.makedirs(twd)
            after, _, _, _ = h.train_run(so, {"x": x, "label": label}, weights, twd,
                                         extra=["--epochs", str(STEPS), "--threads", str(threads)])
            for name, a in after_ref.items():
                h.check_close("%s %s after %d steps" % (what, name, STEPS), after[name], a, atol=2e-4, rtol=1e-3)
            afters[threads] = after
        results[build, batch] = (outs, afters)
        if kernels == "linalg":
            h.check("linalg b%d: logits on 2 threads equal those on 1, bit for bit" % batch,
                    np.array_equal(outs[1]["logits"], outs[2]["logits"]))
            for name in after_ref:
                h.check("linalg b%d: %s after %d steps on 2 threads equals 1 thread's, bit for bit" % (batch, name, STEPS),
                        np.array_equal(afters[1][name], afters[2][name]))
for batch in data:
    split, split_after = results["linalg parallel-loops=true", batch]
    for other in ("linalg parallel-loops=false", "linalg parallel-loops=true passive"):
        whole, whole_after = results[other, batch]
        h.check("linalg b%d: logits of %s equal the split nests', bit for bit" % (batch, other),
                np.array_equal(split[2]["logits"], whole[2]["logits"]))
        for name in split_after[2]:
            h.check("linalg b%d: %s after %d steps of %s equals the split nests', bit for bit"
                    % (batch, name, STEPS, other), np.array_equal(split_after[2][name], whole_after[2][name]))

# A session's first call with new shapes learns from its kernels' work how to run the
# later ones; where they run every kernel on both threads, the first runs again as they
# will, so that its numbers are theirs: a train step resumed from a checkpoint (a new
# session's first step) retraces the uninterrupted run bit for bit. Two convolutions at
# batch 4 on oneDNN's kernels: the first one's weight gradient (4 MFLOP) ran on one thread
# in the first step and on two in the next, and rounded otherwise (difftest seed 1036).
# And no kernel chooses by the history of calls: attention's projections and a dense
# layer, Adam, on one thread with oneDNN capped at AVX2, where a dense layer's weight read
# packed in a session's first step and plain after two changed ones rounded otherwise
# (difftest seed 162342; Adam's step, lr * m / sqrt(v), makes one float of a gradient near
# zero many of the weight).
CONV = """
model TwoConv {
  input img: f32[B, 4, 16, 16]
  input target: f32[B, 80, 14, 14]
  h = conv2d(img, 72, 3, bias = false, name = "c1")
  y = conv2d(h, 80, 3, padding = 1, name = "c2")
  output y
  train {
    loss = bce_with_logits(y, target)
    optimizer = sgd(lr = 0.1)
  }
}
"""
ATTENTION = """
model Attend {
  input x: f32[B, 7, 6]
  input target: i64[B, 7]
  a = attention(x, heads = 2, name = "att")
  logits = dense(a, 7, name = "out")
  output logits
  train {
    loss = cross_entropy(logits, target)
    optimizer = adam(lr = 0.01, weight_decay = 0.01)
  }
}
"""
cases = [
    ("two convolutions", CONV,
     torch.nn.ModuleDict({"c1": torch.nn.Conv2d(4, 72, 3, bias=False), "c2": torch.nn.Conv2d(72, 80, 3, padding=1)}),
     {"img": rng.randn(4, 4, 16, 16).astype(np.float32),
      "target": rng.uniform(0, 1, (4, 80, 14, 14)).astype(np.float32)}, 2, ()),
    ("attention and a dense layer capped at AVX2", ATTENTION,
     torch.nn.ModuleDict({"att": torch.nn.MultiheadAttention(6, 2, batch_first=True), "out": torch.nn.Linear(6, 7)}),
     {"x": rng.randn(47, 7, 6).astype(np.float32), "target": rng.randint(0, 7, (47, 7)).astype(np.int64)}, 1,
     ("--mcpu=x86-64-v3",)),
]
for label, src, module, inputs, threads, flags in cases:
    for wait in ("", "passive"):
        if wait:
            os.environ["OMP_WAIT_POLICY"] = wait
        else:
            os.environ.pop("OMP_WAIT_POLICY", None)
        if flags:
            os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"
        wd = h.workdir()
        so, weights = h.compile_with_weights(src, module, wd, flags=("--kernels=onednn",) + flags)
        runs = {}
        for run, extra in (("straight", ["--steps", "3"]), ("first", ["--steps", "1"]),
                           ("resumed", ["--steps", "3", "--resume", os.path.join(wd, "first", "ckpt.safetensors")])):
            os.makedirs(os.path.join(wd, run))
            runs[run] = h.train_run(so, inputs, weights, os.path.join(wd, run),
                                    extra=extra + ["--threads", str(threads)])[0]
        os.environ.pop("ONEDNN_MAX_CPU_ISA", None)
        for name, a in runs["straight"].items():
            h.check("%s%s on %d thread(s): %s after 3 steps resumed after the first equals 3 in one run, bit for bit"
                    % (label, " (" + wait + " wait)" if wait else "", threads, name),
                    np.array_equal(runs["resumed"][name], a))
h.finish()
