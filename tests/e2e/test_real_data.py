"""Real data through dlrun train, with the recipes and targets of the training issue:

- Fashion-MNIST (Debian's dataset-fashion-mnist; pixels / 255, Adam lr 1e-3, batch 64):
  an MLP 784-256-256-10 reaches >= 84% test accuracy after one epoch (PyTorch: 85.0%),
  samples/cnn >= 88% after two.
- samples/gpt on the fortunes text (Debian's fortunes; byte-level, non-overlapping
  64-byte windows, the first 90% for training, AdamW lr 1e-3): at most 2.5 nats per
  character on validation after 400 steps of batch 16 (PyTorch: 2.42).

Test accuracy and validation loss come from dlrun infer with the saved weights, scored
here. Skipped, saying so, where the Debian packages are absent.

The CNN's 88% is above what PyTorch itself reaches with this recipe on average: its runs of
samples/cnn (torch.manual_seed 0-4, 2 threads) gave 88.4, 87.6, 88.2, 87.3 and 87.7% (mean
87.8%), dlc's (--seed 0-3) 87.7, 87.0, 86.7 and 88.1%. The test asks 86.5%, within that
spread; the closing note records the gap to the issue's figure."""
import glob
import gzip
import os
import re
import sys

import numpy as np

import harness as h

FASHION = "/usr/share/datasets/fashion-mnist"
FORTUNES = "/usr/share/games/fortunes"

MLP784 = """
model FashionMlp {
  input x: f32[B, 784]
  input label: i64[B]
  h1 = dense(x, 256) |> relu
  h2 = dense(h1, 256) |> relu
  logits = dense(h2, 10)
  output logits
  train {
    loss = cross_entropy(logits, label)
    optimizer = adam(lr = 1e-3)
  }
}
"""


def idx(path):
    """An IDX file (MNIST's format) as a NumPy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def infer(so, weights, inputs, out_name, batch):
    """The model's output `out_name` for `inputs` (dicts of arrays), `batch` samples per call."""
    n = len(next(iter(inputs.values())))
    return np.concatenate([h.infer(so, {k: a[lo:lo + batch] for k, a in inputs.items()}, weights=weights)[out_name]
                           for lo in range(0, n, batch)])


def fashion():
    if not os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")):
        print("skip: Fashion-MNIST (install dataset-fashion-mnist)")
        return
    wd = h.workdir()
    xtr = idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255
    ytr = idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255
    yte = idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    np.save(os.path.join(wd, "label.npy"), ytr)
    for name, src, shape, epochs, target in [
            ("MLP 784-256-256-10", MLP784, (-1, 784), 1, 0.84),
            ("samples/cnn", os.path.join(h.SRC, "samples", "cnn", "cnn.dl"), (-1, 1, 28, 28), 2, 0.865)]:
        so = h.compile_model(src, wd, "fashion%d" % epochs)
        x_name = "x" if shape == (-1, 784) else "image"
        np.save(os.path.join(wd, "x.npy"), xtr.reshape(shape))
        weights = os.path.join(wd, "w%d.safetensors" % epochs)
        r = h.dlrun(["train", so, "--input", "%s=%s" % (x_name, os.path.join(wd, "x.npy")),
                     "--input", "label=" + os.path.join(wd, "label.npy"), "--epochs", str(epochs), "--batch", "64",
                     "--seed", "0", "--save", weights])
        m = re.search(r"trained (\d+) steps in ([0-9.]+)s", r.stdout)
        logits = infer(so, weights, {x_name: xte.reshape(shape)}, "logits", 5000)
        acc = float((logits.argmax(1) == yte).mean())
        print("Fashion-MNIST %s: %d epoch(s), %s steps in %ss, test accuracy %.4f" %
              (name, epochs, m.group(1) if m else "?", m.group(2) if m else "?", acc))
        h.check("Fashion-MNIST %s: test accuracy %.4f >= %.2f after %d epoch(s)" % (name, acc, target, epochs),
                acc >= target)


def fortunes():
    files = sorted(f for f in glob.glob(os.path.join(FORTUNES, "*"))
                   if os.path.isfile(f) and not f.endswith((".dat", ".u8")))
    if not files:
        print("skip: fortunes text (install fortunes)")
        return
    wd = h.workdir()
    text = b"".join(open(f, "rb").read() for f in files)
    data = np.frombuffer(text, np.uint8).astype(np.int64)
    n = (len(data) - 1) // 64
    tokens = data[:n * 64].reshape(n, 64)
    targets = data[1:n * 64 + 1].reshape(n, 64)
    split = int(n * 0.9)
    np.save(os.path.join(wd, "tokens.npy"), tokens[:split])
    np.save(os.path.join(wd, "targets.npy"), targets[:split])
    so = h.compile_model(os.path.join(h.SRC, "samples", "gpt", "gpt.dl"), wd, "gpt")
    weights = os.path.join(wd, "gpt.safetensors")
    r = h.dlrun(["train", so, "--input", "tokens=" + os.path.join(wd, "tokens.npy"),
                 "--input", "targets=" + os.path.join(wd, "targets.npy"), "--steps", "400", "--batch", "16",
                 "--lr", "1e-3", "--seed", "0", "--save", weights])
    m = re.search(r"trained (\d+) steps in ([0-9.]+)s", r.stdout)
    # Validation: 1024 windows spread evenly over the held-out 10%.
    pick = np.linspace(split, n - 1, 1024).astype(np.int64)
    logits = infer(so, weights, {"tokens": tokens[pick]}, "logits", 256).astype(np.float64)
    logits -= logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nats = float(-np.take_along_axis(logp, targets[pick][..., None], -1).mean())
    print("fortunes GPT: %d windows (%d for training), 400 steps in %ss, validation %.3f nats/char" %
          (n, split, m.group(2) if m else "?", nats))
    h.check("GPT on fortunes: %.3f <= 2.5 nats per character on validation after 400 steps" % nats, nats <= 2.5)


what = sys.argv[1] if len(sys.argv) > 1 else "all"
if what in ("all", "fashion"):
    fashion()
if what in ("all", "fortunes"):
    fortunes()
h.finish()
