"""Helpers for end-to-end tests: compile a .dl with dlc, run it with dlrun, compare with
PyTorch. Run by ctest with DLC_BIN (the build's bin/) and DLC_SOURCE set.

The same tests run on a GPU machine that has no dlc (tests/gpu/run.sh):
  DLC_COLLECT=DIR      keep every model compiled, as DIR/<key>.so (the key: a hash of the
                       source and DLC_FLAGS), for carrying to that machine;
  DLC_PRECOMPILED=DIR  take models from DIR by that key instead of running dlc;
  DLC_DEVICE=cuda      run them with dlrun --device cuda;
  DLC_TOLERANCE_SCALE  multiplies every tolerance (the GPU's, stated in tests/gpu/run.sh)."""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

BIN = os.environ.get("DLC_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
SRC = os.environ.get("DLC_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))

# Elementwise tolerance of the issue: |got - ref| <= ATOL + RTOL * |ref|.
TOLERANCE_SCALE = float(os.environ.get("DLC_TOLERANCE_SCALE", "1"))
ATOL, RTOL = 1e-6 * TOLERANCE_SCALE, 1e-5 * TOLERANCE_SCALE

_failures = []


def workdir():
    d = tempfile.mkdtemp(prefix="dlc-e2e-")
    return d


def compile_model(source, wd, name="model", flags=()):
    """Compiles .dl source text (or a path) to WD/name.so (dlc with DLC_FLAGS and `flags`)
    and returns the path."""
    path = source if os.path.exists(source) else os.path.join(wd, name + ".dl")
    if path != source:
        with open(path, "w") as f:
            f.write(source)
    out = os.path.join(wd, name + ".so")
    # DLC_FLAGS: extra compiler flags, e.g. --kernels=linalg to test the portable lowering.
    flags = os.environ.get("DLC_FLAGS", "").split() + list(flags)
    with open(path, "rb") as f:
        key = hashlib.sha256(f.read() + b"\0" + " ".join(flags).encode()).hexdigest()[:24]
    if os.environ.get("DLC_PRECOMPILED"):
        kept = os.path.join(os.environ["DLC_PRECOMPILED"], key + ".so")
        if not os.path.exists(kept):
            raise AssertionError("no precompiled model %s for %s (tests/gpu/prepare.sh collects them)" % (kept, path))
        shutil.copyfile(kept, out)
        return out
    r = subprocess.run([os.path.join(BIN, "dlc"), path, "-o", out] + flags, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("dlc failed (%d):\n%s" % (r.returncode, r.stderr))
    if os.environ.get("DLC_COLLECT"):
        os.makedirs(os.environ["DLC_COLLECT"], exist_ok=True)
        shutil.copyfile(out, os.path.join(os.environ["DLC_COLLECT"], key + ".so"))
    return out


def save_safetensors(path, tensors):
    """Writes {name: np.ndarray} as safetensors (the format PyTorch's safetensors uses)."""
    codes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("int32"): "I32"}
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.asarray(a)
        b = a.tobytes(order="C")  # (ascontiguousarray would turn a 0-d tensor into 1-d)
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def compile_with_weights(source, module, wd, flags=()):
    """Compiles `source` and saves `module`'s state_dict as the weights to run it with:
    the model and the PyTorch reference share every parameter. Returns (so, weights)."""
    so = compile_model(source, wd, flags=flags)
    weights = os.path.join(wd, "w.safetensors")
    save_safetensors(weights, state_dict_numpy(module))
    return so, weights


def state_dict_numpy(module):
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def dlrun(args, check=True):
    if os.environ.get("DLC_DEVICE") and args and args[0] in ("infer", "train", "bench"):
        args = args + ["--device", os.environ["DLC_DEVICE"]]
    r = subprocess.run([os.path.join(BIN, "dlrun")] + args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError("dlrun %s failed (%d):\n%s" % (" ".join(args), r.returncode, r.stderr))
    return r


def dlrt_python_env():
    """The environment for a Python that loads libdlrt.so through ctypes
    (tests/difftest/session_calls.py). The sanitizers' build (scripts/sanitize.sh, which
    sets ASAN_OPTIONS) links libdlrt against ASan's runtime, which it expects in the
    executable and Python lacks: the shared runtime of the clang that built it
    (cmake/toolchain-clang.cmake) is preloaded, and leaks are left to the tests whose
    executables are ours (Python's own objects alive at exit would read as leaks)."""
    env = dict(os.environ)
    if "ASAN_OPTIONS" in env:
        runtime = subprocess.run(["clang-22", "-print-file-name=libclang_rt.asan-x86_64.so"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        env["LD_PRELOAD"] = runtime
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    return env


def infer(so, inputs, weights=None, wd=None, threads=None):
    """Runs dlrun infer and returns {output name: np.ndarray}."""
    return infer_report(so, inputs, weights, wd, threads)[0]


def infer_report(so, inputs, weights=None, wd=None, threads=None):
    """infer(), and what dlrun printed besides."""
    wd = wd or workdir()
    args = ["infer", so, "--out-dir", wd]
    for name, a in inputs.items():
        p = os.path.join(wd, "in_%s.npy" % name)
        np.save(p, a)
        args += ["--input", "%s=%s" % (name, p)]
    if weights:
        args += ["--weights", weights]
    if threads:
        args += ["--threads", str(threads)]
    r = dlrun(args)
    outs = {}
    for line in r.stdout.splitlines():
        if "->" in line:
            name = line.split()[0]
            outs[name] = np.load(line.split("->")[1].strip())
    return outs, r.stdout


def check_outputs(so, weights, ref, batches, make_inputs, atol_for=lambda name: ATOL):
    """Runs `so` at each batch size on make_inputs(batch) ({input name: array}, in the
    order `ref` takes them) and checks every output of `ref` (a module returning
    {output name: tensor}) against it."""
    import torch
    for batch in batches:
        inputs = make_inputs(batch)
        with torch.no_grad():
            want = ref(*[torch.from_numpy(a) for a in inputs.values()])
        got = infer(so, inputs, weights=weights)
        for name, r in want.items():
            check_close("%s b%d" % (name, batch), got[name], r.numpy(), atol=atol_for(name))


def check_close_nonfinite(what, got, ref, atol=ATOL, rtol=RTOL):
    """got has NaN and infinities exactly where ref has them (the same signs), and is close
    to it elsewhere."""
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape:
        check(what, False, "shape %s, expected %s" % (got.shape, ref.shape))
        return
    nan, inf = np.isnan(ref), np.isinf(ref)
    finite = ~(nan | inf)
    same = (np.array_equal(np.isnan(got), nan) and np.array_equal(got[inf], ref[inf]) and
            np.allclose(got[finite], ref[finite], atol=atol, rtol=rtol))
    bad = np.argwhere(~(np.isclose(got, ref, atol=atol, rtol=rtol, equal_nan=True)))
    check("%s: %d NaN, %d inf as torch" % (what, int(nan.sum()), int(inf.sum())), same,
          "first difference at %s (got %s, expected %s)" %
          ((bad[0].tolist(), got[tuple(bad[0])], ref[tuple(bad[0])]) if len(bad) else ("-", "-", "-")))


def check_close(what, got, ref, atol=ATOL, rtol=RTOL):
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape:
        _failures.append("%s: shape %s, expected %s" % (what, got.shape, ref.shape))
        print("FAIL", _failures[-1])
        return
    err = np.abs(got - ref)
    bound = atol + rtol * np.abs(ref)
    if not np.all(err <= bound) or not np.all(np.isfinite(got)):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        _failures.append("%s: max error %.3g at %s (got %.9g, expected %.9g)" % (what, err.max(), i, got[i], ref[i]))
        print("FAIL", _failures[-1])
    else:
        print("ok   %s (max abs error %.3g)" % (what, err.max() if err.size else 0.0))


def check(what, cond, detail=""):
    if not cond:
        _failures.append("%s %s" % (what, detail))
        print("FAIL", what, detail)
    else:
        print("ok  ", what)


def finish():
    if _failures:
        print("%d check(s) failed" % len(_failures))
        sys.exit(1)
    print("all checks passed")


def load_safetensors(path):
    """Reads a safetensors file: ({name: np.ndarray}, metadata)."""
    codes = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "F64": np.float64}
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        lo, hi = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + lo:8 + n + hi], dtype=codes[e["dtype"]]).reshape(e["shape"]).copy()
    return out, meta


def train_run(so, inputs, weights, wd, extra=(), check=True):
    """dlrun train on all samples as one batch, in order; returns (weights after,
    checkpoint tensors, checkpoint metadata, the CompletedProcess)."""
    args = ["train", so, "--weights", weights, "--no-shuffle", "--save", os.path.join(wd, "after.safetensors"),
            "--checkpoint", os.path.join(wd, "ckpt.safetensors")]
    n = None
    for name, a in inputs.items():
        p = os.path.join(wd, "train_%s.npy" % name)
        np.save(p, a)
        args += ["--input", "%s=%s" % (name, p)]
        n = a.shape[0]
    args += ["--batch", str(n)] + list(extra)
    r = dlrun(args, check=check)
    if r.returncode != 0:
        return None, None, None, r
    after, _ = load_safetensors(os.path.join(wd, "after.safetensors"))
    ckpt, meta = load_safetensors(os.path.join(wd, "ckpt.safetensors"))
    return after, ckpt, meta, r
