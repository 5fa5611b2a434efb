"""dlrun train's loop and the state it keeps: the same seed gives bit-identical weights,
a run resumed from a checkpoint taken mid-epoch ends bit-equal to an uninterrupted one,
a process killed in the middle of a save leaves the previous checkpoint whole, the
validation split's sizes (plain and stratified), early stopping restores the best
weights, the CSV log has a row per epoch, folders are created, and bad checkpoints are
refused with a message. Dropout: its masks are Philox4x32-10 of (seed, step, stream,
element), rebuilt here, and its gradient goes through the same mask."""
import os
import signal
import subprocess
import time

import numpy as np

import harness as h

MLP = """
model Mlp {
  input x: f32[B, 10]
  input label: i64[B]
  h = dense(x, 16) |> relu |> dropout(p = 0.2)
  logits = dense(h, 4)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = adam(lr = 0.01)
  }
}
"""

wd = h.workdir()
so = h.compile_model(MLP, wd)
rng = np.random.default_rng(0)
x = rng.standard_normal((50, 10)).astype(np.float32)
label = (x[:, :4].argmax(1)).astype(np.int64)
np.save(os.path.join(wd, "x.npy"), x)
np.save(os.path.join(wd, "label.npy"), label)
DATA = ["--input", "x=" + os.path.join(wd, "x.npy"), "--input", "label=" + os.path.join(wd, "label.npy")]


def run(*args, check=True):
    return h.dlrun(["train", so] + DATA + ["--batch", "7", "--seed", "3"] + list(args), check=check)


def weights(path):
    return h.load_safetensors(path)[0]


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# Same seed, same weights; another seed, others.
run("--epochs", "3", "--save", os.path.join(wd, "a.safetensors"))
run("--epochs", "3", "--save", os.path.join(wd, "b.safetensors"))
h.check("the same seed gives bit-identical weights", same(weights(os.path.join(wd, "a.safetensors")),
                                                          weights(os.path.join(wd, "b.safetensors"))))
h.dlrun(["train", so] + DATA + ["--batch", "7", "--seed", "4", "--epochs", "3", "--save", os.path.join(wd, "c.safetensors")])
h.check("another seed gives other weights", not same(weights(os.path.join(wd, "a.safetensors")),
                                                     weights(os.path.join(wd, "c.safetensors"))))

# Interrupted after 13 steps (mid-epoch 2 of 8 batches each), resumed to the end.
ck = os.path.join(wd, "sub", "dir", "ck.safetensors")
r = run("--steps", "13", "--checkpoint", ck)
h.check("--checkpoint creates its folder", os.path.exists(ck))
meta = h.load_safetensors(ck)[1]
h.check("the checkpoint holds the step count", meta.get("step") == "13", str(meta))
run("--epochs", "3", "--resume", ck, "--save", os.path.join(wd, "resumed.safetensors"))
h.check("resumed mid-epoch equals uninterrupted, bit for bit",
        same(weights(os.path.join(wd, "a.safetensors")), weights(os.path.join(wd, "resumed.safetensors"))))
r = run("--epochs", "1", "--resume", ck, "--save", os.path.join(wd, "past.safetensors"))
h.check("resuming a checkpoint past the run's end takes no step and says so",
        "no step to take" in r.stderr and "trained 13 steps" in r.stdout and
        all(np.array_equal(weights(ck)[k], v) for k, v in weights(os.path.join(wd, "past.safetensors")).items()),
        r.stderr)
r = h.dlrun(["train", so] + DATA + ["--batch", "5", "--seed", "3", "--epochs", "3", "--resume", ck], check=False)
h.check("resuming with another batch size is refused", r.returncode == 1 and "batch" in r.stderr, r.stderr)

# A save killed half-way leaves the previous checkpoint as it was.
before = open(ck, "rb").read()
env = dict(os.environ, DLRT_TEST_SAVE_PAUSE="1000")
p = subprocess.Popen([os.path.join(h.BIN, "dlrun"), "train", so] + DATA +
                     ["--batch", "7", "--seed", "3", "--epochs", "3", "--resume", ck, "--checkpoint", ck],
                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
tmp = ck + ".tmp"
for _ in range(300):
    if os.path.exists(tmp) and os.path.getsize(tmp) > 1000:
        break
    time.sleep(0.05)
h.check("the save paused with its temporary file half written", os.path.exists(tmp))
p.send_signal(signal.SIGKILL)
p.wait()
h.check("a crash during a save leaves the previous checkpoint intact", open(ck, "rb").read() == before)
run("--epochs", "3", "--resume", ck, "--save", os.path.join(wd, "again.safetensors"))
h.check("and training resumes from it", same(weights(os.path.join(wd, "a.safetensors")),
                                             weights(os.path.join(wd, "again.safetensors"))))

# Bad checkpoints.
trunc = os.path.join(wd, "trunc.safetensors")
open(trunc, "wb").write(before[: len(before) // 2])
r = run("--resume", trunc, check=False)
h.check("a truncated checkpoint is refused", r.returncode == 1 and "trunc.safetensors" in r.stderr, r.stderr)
other = h.compile_model(MLP.replace("dense(x, 16)", "dense(x, 12)"), wd, "other")
r = h.dlrun(["train", other] + DATA + ["--batch", "7", "--seed", "3", "--resume", ck], check=False)
h.check("a checkpoint of another model is refused", r.returncode == 1 and "h.weight" in r.stderr, r.stderr)

# Validation split, log, early stopping.
log = os.path.join(wd, "logs", "train.csv")
r = run("--epochs", "4", "--val-split", "0.2", "--log", log)
rows = open(log).read().strip().splitlines()
h.check("--log writes a header and a row per epoch", len(rows) == 5 and rows[0].startswith("epoch,step,train_loss"), str(rows))
h.check("ceil(0.2 * 50) = 10 validation samples", "(10 positions)" in r.stdout, r.stdout)
r = run("--epochs", "1", "--val-split", "0.3", "--stratify", "label")
counts = np.bincount(label)
want = int(sum(round(0.3 * c) for c in counts))
h.check("stratified: round(0.3 n_c) per class", "(%d positions)" % want in r.stdout, r.stdout)
r = run("--epochs", "40", "--val-split", "0.2", "--early-stop", "2", "--lr", "0.2", "--save", os.path.join(wd, "es.safetensors"))
h.check("early stopping stops and restores the best weights", "early stop" in r.stdout, r.stdout)
r = run("--early-stop", "2", check=False)
h.check("--early-stop without a split is a usage error", r.returncode == 2, r.stderr)

# The HTML report: self-contained (nothing fetched), a curve point per epoch for train and
# validation loss and accuracy, the confusion matrix as one cell per (true, predicted)
# pair; after a resume it still covers every epoch, from the checkpoint's loop state.
import re  # noqa: E402

report = os.path.join(wd, "reports", "run.html")
ck2 = os.path.join(wd, "ck2.safetensors")
run("--epochs", "2", "--val-split", "0.2", "--checkpoint", ck2)
run("--epochs", "5", "--val-split", "0.2", "--resume", ck2, "--report", report)
html = open(report).read()
h.check("--report creates its folder and writes HTML", html.startswith("<!DOCTYPE html>"))
h.check("the report fetches nothing", not re.search(r"<(script|link|img)\b|src=|href=|url\(", html))
curves = re.findall(r"<polyline[^>]*points='([^']*)'", html)
h.check("four curves (loss and accuracy, train and validation) of 5 epochs each, resumed run included",
        len(curves) == 4 and all(len(c.split()) == 5 for c in curves), str([len(c.split()) for c in curves]))
classes = len(np.unique(label))
cells = re.findall(r"<title>true (\d+), predicted (\d+): (\d+)</title>", html)
h.check("the confusion matrix has a cell per class pair, counting the validation samples",
        len(cells) == classes * classes and sum(int(c[2]) for c in cells) == 10, str(len(cells)))
r = run("--report", os.path.join(wd, "r2.html"), "--steps", "3")
h.check("a run shorter than an epoch still reports", os.path.exists(os.path.join(wd, "r2.html")), r.stderr)

# A vocabulary's worth of classes (a language model's): scores per class, no confusion
# matrix (40,000^2 counts took 12.8 GB; a model of 153,600 classes was killed for memory).
# Under a 4 GB address-space limit, so that a regression fails rather than swaps (not
# under AddressSanitizer, whose shadow memory alone reserves terabytes of addresses).
import resource  # noqa: E402

WIDE = "model Wide {\n  input x: f32[B, 4]\n  input label: i64[B]\n  logits = dense(x, 40000)\n  output logits\n" \
       "  train {\n    loss = cross_entropy(logits, label)\n    optimizer = sgd(lr = 0.1)\n  }\n}\n"
wide = h.compile_model(WIDE, wd, "wide")
np.save(os.path.join(wd, "wx.npy"), rng.standard_normal((6, 4)).astype(np.float32))
np.save(os.path.join(wd, "wl.npy"), np.array([5, 39999, 17, 5, 20000, 3], np.int64))
limit = None if "ASAN_OPTIONS" in os.environ else lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
r = subprocess.run([os.path.join(h.BIN, "dlrun"), "train", wide, "--steps", "1", "--report", os.path.join(wd, "wide.html"),
                    "--input", "x=" + os.path.join(wd, "wx.npy"), "--input", "label=" + os.path.join(wd, "wl.npy")],
                   capture_output=True, text=True, preexec_fn=limit)
h.check("40,000 classes: per-class scores and their macro averages, within 4 GB",
        r.returncode == 0 and "39999  " in r.stdout and "macro" in r.stdout, r.stderr[-500:])
wide_html = open(os.path.join(wd, "wide.html")).read() if r.returncode == 0 else ""
h.check("the report lists the classes and leaves the matrix out",
        wide_html.count("<tr><td>") >= 40000 and "no confusion matrix above 100" in wide_html
        and "predicted 0:" not in wide_html)

# Dropout: masks rebuilt from Philox4x32-10 and the gradient through them.
def philox_word0(index, stream, step, seed):
    M = 0xFFFFFFFF
    c = [index & M, (index >> 32) & M, np.full_like(index, stream), np.full_like(index, step & M)]
    k0, k1 = seed & M, (seed >> 32) & M
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & M, (k1 + 0xBB67AE85) & M
        p0 = c[0] * 0xD2511F53
        p1 = c[2] * 0xCD9E8D57
        c = [((p1 >> 32) ^ c[1] ^ k0) & M, p1 & M, ((p0 >> 32) ^ c[3] ^ k1) & M, p0 & M]
    return c[0]


DROP = """
model Drop {
  input x: f32[B, 1]
  input t: f32[B, 4096]
  h = dense(x, 4096)
  y = dropout(h, p = 0.3)
  train {
    loss = mean(y * t)
    optimizer = sgd(lr = 1.0)
  }
  output h
}
"""
dso = h.compile_model(DROP, wd, "drop")
w0 = {"h.weight": rng.standard_normal((4096, 1)).astype(np.float32), "h.bias": np.zeros(4096, np.float32)}
w0p = os.path.join(wd, "drop_w0.safetensors")
h.save_safetensors(w0p, w0)
t = rng.uniform(0.5, 1.5, (1, 4096)).astype(np.float32)
for seed in (0, 12345678901):
    after, _, _, _ = h.train_run(dso, {"x": np.ones((1, 1), np.float32), "t": t}, w0p, wd,
                                 ["--steps", "1", "--seed", str(seed)])
    grad = w0["h.bias"] - after["h.bias"]  # mask * t / (1 - p) / 4096
    kept = grad != 0
    word = philox_word0(np.arange(4096, dtype=np.uint64), 0, 1, seed)
    want = (word >> 8) < int(np.ceil(0.7 * 2 ** 24))
    h.check("dropout seed %d: the mask is Philox4x32-10 of (seed, step, stream, index)" % seed,
            np.array_equal(kept, want), "%d of 4096 differ" % int((kept != want).sum()))
    h.check("dropout seed %d: about p of the elements dropped" % seed, abs(1 - kept.mean() - 0.3) < 0.03,
            str(1 - kept.mean()))
    h.check_close("dropout seed %d: the gradient through the kept elements" % seed, grad[kept],
                  (t[0] / 0.7 / 4096)[kept], atol=1e-9, rtol=1e-5)

h.finish()
