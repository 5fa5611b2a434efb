"""dlc --weights bakes trained weights into model.so (TOOLS.md): the model then runs with
them without a weights file, a session can still replace them, and a file that does not
fit the model is a compile error. dlrun infer warns when it would run freshly
initialised weights. Outputs are compared bit for bit: the same weights through the same
code."""
import os
import subprocess

import numpy as np

import harness as h

MLP = os.path.join(h.SRC, "samples", "mlp", "mlp.dl")
SHAPES = {"h1.weight": (128, 64), "h1.bias": (128,), "h2.weight": (64, 128), "h2.bias": (64,),
          "logits.weight": (10, 64), "logits.bias": (10,)}


def weights(seed):
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in SHAPES.items()}


def dlc(args):
    return subprocess.run([os.path.join(h.BIN, "dlc")] + args, capture_output=True, text=True)


def infer(so, x, wd, extra=()):
    np.save(os.path.join(wd, "x.npy"), x)
    out = os.path.join(wd, "out")
    r = h.dlrun(["infer", so, "--input", "x=" + os.path.join(wd, "x.npy"), "--out-dir", out] + list(extra))
    return np.load(os.path.join(out, "logits.npy")), r.stderr


def main():
    wd = h.workdir()
    w1, w2 = os.path.join(wd, "w1.safetensors"), os.path.join(wd, "w2.safetensors")
    h.save_safetensors(w1, weights(1))
    h.save_safetensors(w2, weights(2))
    plain, baked = os.path.join(wd, "plain.so"), os.path.join(wd, "baked.so")
    r = dlc([MLP, "-o", plain])
    h.check("compiles", r.returncode == 0, r.stderr)
    r = dlc([MLP, "-o", baked, "--weights", w1])
    h.check("compiles with --weights", r.returncode == 0 and not r.stderr, r.stderr)
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)

    ref1, err = infer(plain, x, wd, ["--weights", w1])
    h.check("a weights file given: no warning", "warning" not in err, err)
    _, err = infer(plain, x, wd)
    h.check("no weights at all: one warning line", err.count("\n") == 1 and "freshly initialised weights" in err, err)
    got, err = infer(baked, x, wd)
    h.check("baked weights run without a file, bit for bit", np.array_equal(got, ref1), "")
    h.check("baked weights: no warning", "warning" not in err, err)
    ref2, _ = infer(plain, x, wd, ["--weights", w2])
    got, _ = infer(baked, x, wd, ["--weights", w2])
    h.check("a session still replaces baked weights", np.array_equal(got, ref2) and not np.array_equal(ref1, ref2), "")
    info = h.dlrun(["info", baked]).stdout
    h.check("dlrun info says the weights are baked", "baked into the model" in info, info)

    # Training starts from the baked weights as from the same file.
    labels = np.arange(5, dtype=np.int64)
    inputs = {"x": x, "label": labels}
    args = []
    for n, a in inputs.items():
        np.save(os.path.join(wd, "t_%s.npy" % n), a)
        args += ["--input", "%s=%s" % (n, os.path.join(wd, "t_%s.npy" % n))]
    h.dlrun(["train", plain, "--weights", w1, "--steps", "2", "--batch", "5", "--no-shuffle", "--save",
             os.path.join(wd, "a.safetensors")] + args)
    h.dlrun(["train", baked, "--steps", "2", "--batch", "5", "--no-shuffle", "--save",
             os.path.join(wd, "b.safetensors")] + args)
    a, _ = h.load_safetensors(os.path.join(wd, "a.safetensors"))
    b, _ = h.load_safetensors(os.path.join(wd, "b.safetensors"))
    h.check("training starts from the baked weights", all(np.array_equal(a[k], b[k]) for k in SHAPES), "")

    # Files that do not fit: compile errors naming the tensor; extra tensors: a warning.
    bad = weights(1)
    del bad["h2.bias"]
    h.save_safetensors(os.path.join(wd, "missing.safetensors"), bad)
    r = dlc([MLP, "-o", os.path.join(wd, "x.so"), "--weights", os.path.join(wd, "missing.safetensors")])
    h.check("a missing parameter is an error", r.returncode == 1 and "lacks parameters: h2.bias" in r.stderr, r.stderr)
    bad = weights(1)
    bad["h1.weight"] = bad["h1.weight"][:, :32].copy()
    h.save_safetensors(os.path.join(wd, "shape.safetensors"), bad)
    r = dlc([MLP, "-o", os.path.join(wd, "x.so"), "--weights", os.path.join(wd, "shape.safetensors")])
    h.check("a wrong shape is an error", r.returncode == 1 and "tensor 'h1.weight' is f32[128, 32] but the model's "
            "parameter is f32[128, 64]" in r.stderr, r.stderr)
    extra = weights(1)
    extra["old.weight"] = np.zeros(3, np.float32)
    h.save_safetensors(os.path.join(wd, "extra.safetensors"), extra)
    r = dlc([MLP, "-o", os.path.join(wd, "x.so"), "--weights", os.path.join(wd, "extra.safetensors")])
    h.check("an extra tensor is a warning", r.returncode == 0 and "old.weight" in r.stderr and "warning" in r.stderr,
            r.stderr)
    with open(os.path.join(wd, "trunc.safetensors"), "wb") as f:
        f.write(open(w1, "rb").read()[:100])
    r = dlc([MLP, "-o", os.path.join(wd, "x.so"), "--weights", os.path.join(wd, "trunc.safetensors")])
    h.check("a truncated file is an error", r.returncode == 1 and "trunc.safetensors" in r.stderr, r.stderr)


main()
h.finish()
