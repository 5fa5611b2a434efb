#!/usr/bin/env python3
"""Differential testing: random models (modelgen.py) compiled by dlc and run by dlrun,
against PyTorch, on both --kernels paths, at batch 1 and a larger batch from one model.so.

  run.py --count 40 --seed 1000            # CI: fixed seeds, bounded
  run.py --count 2000 --seed $RANDOM -j 2  # by hand: fresh seeds, many models

Prints one line per failing model and a summary; exits 1 if any model failed. A failing
model is kept under --keep (its .dl, weights, inputs and the report) to be reduced to a
regression test. Tolerance per element: |dlc - torch| <= 1e-4 * max(1, max|torch|) +
1e-3 * |torch| + 10 * max|torch - torch64|: loose enough for float32 reassociation
through deep random chains, and wider for an output the model computes ill-conditioned
(float32 PyTorch differs from float64 PyTorch there, e.g. a layer_norm of differences of
near-equal values, where two float32 implementations differ by about as much anywhere in
the output); tight enough to catch any wrong buffer. The largest error of passing models, as
a fraction of this bound, is printed.
"""
import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
BIN = os.environ.get("DLC_BIN", os.path.join(HERE, "..", "..", "build", "bin"))

ATOL, RTOL, COND = 1e-4, 1e-3, 10.0


def check_model(args):
    seed, kernels, keep, max_ops = args[:4]
    only = args[4] if len(args) > 4 else None
    import torch
    torch.set_num_threads(1)
    import harness as h
    import modelgen

    wd = tempfile.mkdtemp(prefix="dlc-diff-")
    problems, worst = [], 0.0
    try:
        m = modelgen.Model(seed, max_ops=max_ops)
        if only:
            m.restrict(only)
        src = os.path.join(wd, "model.dl")
        with open(src, "w") as f:
            f.write(m.source)
        weights = os.path.join(wd, "w.safetensors")
        h.save_safetensors(weights, m.state_dict())
        rng = np.random.RandomState(seed)
        batches = [1, rng.randint(2, 6)]
        cases = [(b, m.inputs(b, rng)) for b in batches]
        refs = [m.reference(inp) for _, inp in cases]
        refs64 = [m.reference(inp, double=True) for _, inp in cases]
        for k in kernels:
            so = os.path.join(wd, "model_%s.so" % k)
            r = subprocess.run([os.path.join(BIN, "dlc"), src, "-o", so, "--kernels=" + k],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                problems.append("%s: dlc exit %d: %s" % (k, r.returncode, r.stderr.strip()[-600:]))
                continue
            for (b, inp), ref, ref64 in zip(cases, refs, refs64):
                out = os.path.join(wd, "out_%s_%d" % (k, b))
                os.makedirs(out, exist_ok=True)
                cmd = [os.path.join(BIN, "dlrun"), "infer", so, "--weights", weights, "--out-dir", out]
                for n, a in inp.items():
                    p = os.path.join(wd, "in_%d_%s.npy" % (b, n))
                    np.save(p, a)
                    cmd += ["--input", "%s=%s" % (n, p)]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                                   env=dict(os.environ, OMP_WAIT_POLICY="passive"))
                if r.returncode != 0:
                    problems.append("%s b%d: dlrun exit %d: %s" % (k, b, r.returncode, r.stderr.strip()[-600:]))
                    continue
                for name, want in ref.items():
                    got = np.load(os.path.join(out, name + ".npy"))
                    if got.shape != want.shape:
                        problems.append("%s b%d %s: shape %s, torch %s" % (k, b, name, got.shape, want.shape))
                        continue
                    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
                    err = np.abs(got.astype(np.float64) - want)
                    # How far float32 rounding alone moves this output (PyTorch's float32
                    # against its float64): where the model is ill-conditioned, any two
                    # float32 implementations differ by about that much anywhere in it.
                    rounding = float(np.abs(want - ref64[name]).max()) if want.size else 0.0
                    bound = ATOL * scale + RTOL * np.abs(want) + COND * rounding
                    if not np.all(np.isfinite(got)) or np.any(err > bound):
                        i = np.unravel_index(np.argmax(err - bound), err.shape)
                        problems.append("%s b%d %s: max error %.3g at %s (dlc %.6g, torch %.6g)" %
                                        (k, b, name, err.max(), i, got[i], want[i]))
                    elif err.size:
                        worst = max(worst, float((err / bound).max()))
    except Exception as e:  # a generator bug is reported as such, not hidden
        problems.append("harness: %s: %s" % (type(e).__name__, e))
    if problems and keep:
        dst = os.path.join(keep, "seed%d" % seed)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(wd, dst)
        with open(os.path.join(dst, "report.txt"), "w") as f:
            f.write("\n".join(problems) + "\n")
    shutil.rmtree(wd, ignore_errors=True)
    return seed, problems, worst


def reduce_failures(a, kernels, failures):
    """Drops the outputs of each failing model one at a time, with the statements only they
    needed, as long as the model still fails, and keeps the smallest failing model."""
    import modelgen
    for seed, _ in failures:
        outs = [o for o, _ in modelgen.Model(seed, max_ops=a.max_ops).outputs]
        scratch = tempfile.mkdtemp(prefix="dlc-reduce-")
        for o in list(outs):
            trial = [x for x in outs if x != o]
            if not trial:
                continue
            _, still, _ = check_model((seed, kernels, "", a.max_ops, trial))
            if still:
                outs = trial
        keep = os.path.join(a.keep or scratch, "seed%d-reduced" % seed)
        _, problems, _ = check_model((seed, kernels, scratch, a.max_ops, outs))
        if problems:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(os.path.join(scratch, "seed%d" % seed), keep)
            print("reduced seed %d to outputs %s: %s" % (seed, ", ".join(outs), keep))
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1000, help="first seed")
    ap.add_argument("--count", type=int, default=40, help="models to generate")
    ap.add_argument("--kernels", default="onednn,linalg")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--max-ops", type=int, default=12)
    ap.add_argument("--keep", default="", help="folder for failing models")
    ap.add_argument("--reduce", action="store_true",
                    help="for each failing model, keep only one failing output and what it is computed "
                         "from, and save that model under --keep (seedN-OUTPUT)")
    a = ap.parse_args()
    kernels = a.kernels.split(",")
    t0 = time.time()
    jobs = [(s, kernels, a.keep, a.max_ops) for s in range(a.seed, a.seed + a.count)]
    failed, worst, worst_seed, failures = 0, 0.0, None, []
    with multiprocessing.Pool(a.jobs) as pool:
        for seed, problems, w in pool.imap_unordered(check_model, jobs):
            if w > worst:
                worst, worst_seed = w, seed
            if problems:
                failures.append((seed, problems))
                failed += 1
                print("FAIL seed %d:" % seed)
                for p in problems:
                    print("    " + p)
                sys.stdout.flush()
    if a.reduce and failed:
        reduce_failures(a, kernels, failures)
    print("difftest: %d models (seeds %d..%d) on %s, batches 1 and 2-5: %d passed, %d failed; "
          "largest error on passing outputs %.2f of the tolerance (seed %s); %.0f s" %
          (a.count, a.seed, a.seed + a.count - 1, "+".join(kernels), a.count - failed, failed, worst,
           worst_seed, time.time() - t0))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
