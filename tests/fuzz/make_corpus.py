#!/usr/bin/env python3
"""Seeds the fuzzers' corpora (tests/fuzz/corpus/<target>) from the project's own files:
the samples' and tests' .dl files, the samples' model signatures, weights, checkpoints
and .npy tensors of every dtype and version. Run with /usr/bin/python3 (numpy) after a
plain build (build/). Crashes the fuzzers find go into the same folders by hand, named
crash-*, as regression inputs."""
import ctypes
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DLC_BUILD_DIR", os.path.join(ROOT, "build"))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402


def target(name):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    return d


def main():
    front = target("frontend")
    for f in sorted(glob.glob(os.path.join(ROOT, "samples", "**", "*.dl"), recursive=True) +
                    glob.glob(os.path.join(ROOT, "tests", "lit", "**", "*.dl"), recursive=True)):
        shutil.copy(f, os.path.join(front, os.path.relpath(f, ROOT).replace("/", "_")))

    npy = target("npy")
    arrays = {"f32": np.arange(12, dtype=np.float32).reshape(3, 4), "f64": np.linspace(0, 1, 5),
              "i64": np.array([[1, -2], [3, 4]], np.int64), "i32": np.array([7], np.int32),
              "bool": np.array([True, False, True]), "f16": np.ones((2, 2), np.float16),
              "scalar": np.float32(2.5), "empty": np.zeros((0, 3), np.float32),
              "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))}
    for name, a in arrays.items():
        np.save(os.path.join(npy, name + ".npy"), a)
    for version in ((2, 0), (3, 0)):
        with open(os.path.join(npy, "v%d.npy" % version[0]), "wb") as f:
            np.lib.format.write_array(f, arrays["f32"], version=version)

    st = target("safetensors")
    harness.save_safetensors(os.path.join(st, "weights.safetensors"),
                             {"a.weight": np.ones((2, 3), np.float32), "b": np.arange(4, dtype=np.int64)})

    wd = tempfile.mkdtemp()
    lib = ctypes.CDLL(os.path.join(BUILD, "lib", "libdlrt.so"))
    lib.dlrt_model_signature.restype = ctypes.c_char_p
    lib.dlrt_model_load.restype = ctypes.c_void_p
    sig = target("signature")
    for f in ("mlp/mlp.dl", "cnn/cnn.dl", "gpt/gpt.dl", "lstm/lstm.dl"):
        so = os.path.join(wd, os.path.basename(f) + ".so")
        subprocess.run([os.path.join(BUILD, "bin", "dlc"), os.path.join(ROOT, "samples", f), "-o", so], check=True)
        model = ctypes.c_void_p()
        assert lib.dlrt_model_load(so.encode(), ctypes.byref(model)) is None
        with open(os.path.join(sig, os.path.basename(f) + ".json"), "wb") as out:
            out.write(lib.dlrt_model_signature(model))

    # A checkpoint of samples/mlp (what the checkpoint fuzzer's session is).
    ck = target("checkpoint")
    so = os.path.join(wd, "mlp.dl.so")
    np.save(os.path.join(wd, "x.npy"), np.random.default_rng(0).standard_normal((6, 64)).astype(np.float32))
    np.save(os.path.join(wd, "y.npy"), np.arange(6, dtype=np.int64))
    subprocess.run([os.path.join(BUILD, "bin", "dlrun"), "train", so, "--input", "x=" + os.path.join(wd, "x.npy"),
                    "--input", "label=" + os.path.join(wd, "y.npy"), "--steps", "2", "--batch", "3",
                    "--checkpoint", os.path.join(ck, "mlp.safetensors"), "--save",
                    os.path.join(st, "mlp_weights.safetensors")], check=True, capture_output=True)
    shutil.copy(os.path.join(ck, "mlp.safetensors"), os.path.join(st, "mlp_checkpoint.safetensors"))
    shutil.rmtree(wd)


main()
