#!/usr/bin/env python3
"""Differential testing: random models (modelgen.py) compiled by dlc and run by dlrun,
against PyTorch, on both --kernels paths, at batch 1 and a larger batch from one model.so
(the larger on two threads: split across the batch where the compiler allows it on even
seeds, whole on odd ones, so that the kernels' own parallel paths run too).
The models draw the shipped plugins' layers (rms_norm, mish) like built-in ones.

  run.py --count 40 --seed 1000            # CI: fixed seeds, bounded
  run.py --count 2000 --seed $RANDOM -j 2  # by hand: fresh seeds, many models

Prints one line per failing model and a summary; exits 1 if any model failed. The larger
batch runs once more with an infinity, a -infinity and a NaN in its float inputs: the
outputs must have NaN exactly where PyTorch's do and its infinities; and once more with a
few elements 30-30,000 where the rest are N(0, 1), an outlier in its neighbourhood. A failing
model is kept under --keep (its .dl, weights, inputs and the report) to be reduced to a
regression test. Tolerance per element: |dlc - torch| <= 1e-4 * max(1, max|torch|) +
1e-3 * |torch| + 10 * max(max|torch - torch64|, max|torch64 - moved64|): loose enough for
float32 reassociation through deep random chains, and wider for an output the model
computes ill-conditioned (float32 PyTorch differs from float64 PyTorch there, e.g. a
layer_norm of differences of near-equal values, where two float32 implementations differ by
about as much anywhere in the output; moved64 is float64 PyTorch on the inputs each moved
by up to one float32 rounding, every value the model binds rounded to float32, which shows
it where float32 PyTorch happened to land near float64, or where float64 cancels float32's
rounding noise exactly); tight enough to catch any wrong buffer. The largest error of
passing models, as a fraction of this bound, is printed. The same calls run once more one
after another in one session (session_calls.py, through the C API; batch sizes changing at
every call, every other call writing an output over an input's buffer), checked the same
way: what a session keeps from call to call must not change a later call's numbers. And
once more from the model with one of its inputs' non-batch dims symbolic (a sequence's
length, an image's height or width, the ids' length; the first of them, in an order drawn
by the seed, that dlc compiles): the same numbers from code that learns the size at run
time.

`--precision bf16` compiles each model with dlc --precision bf16 and checks inference only,
against a wider bound (see PRECISION).

`--kernels cuda` compiles each model with --target cuda and runs it with dlrun --device
cuda: on a machine with a GPU its numbers are checked like the others'; where
DLC_FAKE_CUDA names the stand-in driver (build/lib/libfake_cuda.so), they cannot be (no
kernel runs), and what is checked is that the model compiles, runs through the runtime
and hands the driver nothing out of place (the stand-in's violations). A model drawing a
plugin layer that has only a CPU kernel is skipped on cuda (the compiler refuses it,
tested elsewhere).

Each model also gets trained (unless --no-train): a loss of its first output drawn by the
seed (mse or bce_with_logits to a random target, cross_entropy or nll to random class
indices where the output is [B, C] or [B, T, C]; on two seeds of five plus w * mean(v * v)
of one or two other outputs, Objective), three steps of SGD or one of Adam or
AdamW (the optimizer drawn by the seed too) on one batch (2-5 rows, or 16-48 on every third
seed; on half of the SGD seeds 2 x batch - 1 samples, so that the steps alternate between a
full batch and a partial one) through dlrun train on two threads; every parameter and
buffer afterwards against PyTorch's (layers in training behaviour: batch norm on batch
statistics, with its running statistics updated) compared as outputs are (NaN where
PyTorch's, its infinities, the rest within the bound, whose rounding term also takes
float32 PyTorch from parameters and inputs moved by one ulp; Adam's first step only where
float32 determines the gradient it reads; and where a relu's, an abs's or a maximum's input
lies nearer its kink than float32 decides, the results either side gives, kinks.py); three steps resumed from a checkpoint after the
first must give the weights of three in one run, bit for bit; and the same steps through
the C API in one session (the second step's and the eval step's first output written over
an input's buffer), then an eval step on all the samples, must leave dlrun's weights
bit for bit, each step's loss and outputs PyTorch's, and the eval step's loss and outputs
PyTorch's in eval behaviour from those weights (its predicted classes, for a class loss,
the largest outputs). Models with dropout (masks PyTorch cannot reproduce) are only resumed
and checked through the C API (their eval step against PyTorch: dropout is off there).
"""
import argparse
import contextlib
import copy
import functools
import math
import multiprocessing
import os
import random
import re
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
# A kink's input nearer than KINK times float32 PyTorch's largest error on that op's input
# is one float32 does not decide (kinks.py): dlc's rounding, a few times PyTorch's where it
# runs Winograd's transforms, may take it on the other side. The two such inputs found
# wrong by the bound before this allowance lay at 0.08 and 0.19 of that error (seeds
# 168504 capped, 203925). Each near one is taken on the other side in a float64 run of its
# own, at most FLIP_RUNS runs.
KINK, FLIP_RUNS = 4.0, 12

# --precision bf16 (set by main; the workers inherit it): the models compiled with it, the
# absolute term of the bound 1e-2 of the output's largest magnitude instead of 1e-4, and the
# rounding term from float64 PyTorch with every product's operands rounded to bf16, as
# dlc's bf16 kernels read them, and with the inputs and parameters rounded too (bf16_moved)
# instead of moved by one float32 rounding. dlc accumulates those products in float32, in
# its kernels' order, so no reference computes its bits; the bound catches what a wrong
# buffer, layout or scale does, not a rounding slightly off.
PRECISION = "fp32"
BF16_ATOL = 1e-2

# The optimizer of each model's train check, drawn by the seed (clipping, weight decay,
# momentum and nesterov, Adam's betas and eps among them; how many steps: train_steps).
# Each: the dl optimizer, clip_grad_norm, PyTorch's, and the L2 weight decay the optimizer
# adds to the gradient it reads (Adam's coupled decay; AdamW's is decoupled).
OPTIMIZERS = [
    ("sgd(lr = 0.1)", None, lambda ps, t: t.optim.SGD(ps, lr=0.1), 0.0),
    ("sgd(lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01)", 0.5,
     lambda ps, t: t.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), 0.01),
    ("adam(lr = 0.01, weight_decay = 0.01)", None, lambda ps, t: t.optim.Adam(ps, lr=0.01, weight_decay=0.01), 0.01),
    ("adamw(lr = 0.01)", 1.0, lambda ps, t: t.optim.AdamW(ps, lr=0.01), 0.0),
    ("sgd(lr = 0.05, momentum = 0.5, weight_decay = 0.001)", None,
     lambda ps, t: t.optim.SGD(ps, lr=0.05, momentum=0.5, weight_decay=0.001), 0.001),
    ("adam(lr = 0.005, beta1 = 0.8, beta2 = 0.99, eps = 1e-6)", 2.0,
     lambda ps, t: t.optim.Adam(ps, lr=0.005, betas=(0.8, 0.99), eps=1e-6), 0.0),
    ("adamw(lr = 0.01, beta1 = 0.85, weight_decay = 0.1)", None,
     lambda ps, t: t.optim.AdamW(ps, lr=0.01, betas=(0.85, 0.999), weight_decay=0.1), 0.0),
]


def train_steps(opt):
    """How many steps of `opt` a model's train check takes, on one batch: three of SGD, so
    that what a step leaves for the next (momentum buffers, updated weights, batch norm's
    running statistics and counter) is read back by the compiled step as it left it; one of
    Adam and AdamW, whose step divides by the gradient's size: where float32 does not
    determine a gradient's sign, its first step moves that weight by +-lr either way, and the
    steps after it differ everywhere downstream by more than any bound that still catches a
    wrong buffer (its first step is compared only where float32 determines it, below)."""
    return 3 if opt.startswith("sgd") else 1


# The shipped plugins, whose layers the generator draws; dlrun finds their run-time parts
# through DLRT_PLUGIN_PATH.
PLUGIN_DIR = os.path.join(BIN, "..", "lib", "dlc-plugins")
PLUGINS = ["--plugin", os.path.join(PLUGIN_DIR, "librms_norm.so"), "--plugin", os.path.join(PLUGIN_DIR, "libmish.so")]
os.environ["DLRT_PLUGIN_PATH"] = PLUGIN_DIR


FAKE_CUDA = os.environ.get("DLC_FAKE_CUDA", "")
CPU_ONLY_PLUGIN = "CPU kernel only"


def compile_model(src, so, kernels):
    """dlc src -o so --kernels=KERNELS (cuda: --target cuda): None, or what went wrong."""
    flags = ["--target", "cuda"] if kernels == "cuda" else ["--kernels=" + kernels]
    # DLC_FLAGS: extra compiler flags, as for the e2e harness (e.g. --mcpu=x86-64-v3 with
    # ONEDNN_MAX_CPU_ISA=AVX2 runs the AVX2 family's code on an AVX-512 machine).
    flags += os.environ.get("DLC_FLAGS", "").split() + ["--precision", PRECISION]
    r = subprocess.run([os.path.join(BIN, "dlc"), src, "-o", so] + flags + PLUGINS,
                       capture_output=True, text=True, timeout=300)
    return None if r.returncode == 0 else "dlc exit %d: %s" % (r.returncode, r.stderr.strip()[-600:])


def run_dlrun(args, inputs, wd, tag, cuda=False, env_extra=None):
    """dlrun ARGS with each input saved to WD and passed as --input: None, or what went wrong."""
    cmd = [os.path.join(BIN, "dlrun")] + args + (["--device", "cuda"] if cuda else [])
    for n, a in inputs:
        p = os.path.join(wd, "in_%s_%s.npy" % (tag, n))
        np.save(p, a)
        cmd += ["--input", "%s=%s" % (n, p)]
    env = dict(os.environ, OMP_WAIT_POLICY="passive", **(env_extra or {}))
    violations = os.path.join(wd, "violations")
    if cuda and FAKE_CUDA:
        env.update(DLRT_CUDA_DRIVER=FAKE_CUDA, DLRT_CUBLAS=FAKE_CUDA, DLRT_CUDNN=FAKE_CUDA,
                   FAKE_CUDA_VIOLATIONS=violations)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if r.returncode != 0:
        return "dlrun exit %d: %s" % (r.returncode, r.stderr.strip()[-600:])
    if os.path.exists(violations) and os.path.getsize(violations):
        with open(violations) as f:
            return "the stand-in CUDA driver found: " + f.read().strip()[-600:]
    return None


class Loss:
    """A loss a train check can end in: its dl name, whether it takes an output of `shape`,
    the target it is given (its dl type and a random array), and PyTorch's."""

    def __init__(self, name, takes, target, torch_fn):
        self.name, self.takes, self.make_target, self.torch_fn = name, takes, target, torch_fn


def _labels(dtype):
    """Class indices in the last dim's range, one per position: [B] or [B, T]."""
    return lambda shape, rng: ("%s[%s]" % (dtype, ", ".join(["B"] + [str(d) for d in shape[1:-1]])),
                               rng.randint(0, shape[-1], size=shape[:-1]).astype(np.dtype(np.int64 if dtype == "i64"
                                                                                            else np.int32)))


def _like(fill):
    return lambda shape, rng: ("f32[%s]" % ", ".join(["B"] + [str(d) for d in shape[1:]]),
                               fill(rng, shape).astype(np.float32))


def _classes(fn):
    """A class loss over [B, C] or [B, T, C] as DSL.md defines it: on the positions flattened."""
    return lambda out, t, F: fn(out.reshape(-1, out.shape[-1]), t.reshape(-1).long(), F)


# The loss of each model's train check, drawn by the seed apart from the optimizer; one that
# does not take the model's first output (a class loss on an image) falls back to mse.
LOSSES = [
    Loss("mse", lambda shape: True, _like(lambda rng, shape: rng.randn(*shape)),
         lambda out, t, F: F.mse_loss(out, t)),
    Loss("cross_entropy", lambda shape: len(shape) in (2, 3), _labels("i64"),
         _classes(lambda x, y, F: F.cross_entropy(x, y))),
    Loss("nll", lambda shape: len(shape) in (2, 3), _labels("i32"), _classes(lambda x, y, F: F.nll_loss(x, y))),
    Loss("bce_with_logits", lambda shape: True, _like(lambda rng, shape: rng.uniform(0, 1, shape)),
         lambda out, t, F: F.binary_cross_entropy_with_logits(out, t)),
]


def train_loss(seed, shape):
    loss = LOSSES[(seed // len(OPTIMIZERS)) % len(LOSSES)]
    return loss if loss.takes(shape) else LOSSES[0]


class Objective:
    """What a train check minimises: `loss` (a Loss) of the value `value` against the target,
    plus w * mean(v * v) of each (value v, w) of `penalties`, other outputs of the model: their
    gradients then meet the first's wherever the model shares values, and layers no path to
    the first output reaches train too."""

    def __init__(self, loss, value, penalties=()):
        self.loss, self.value, self.penalties = loss, value, list(penalties)
        self.name = loss.name + "".join(" + %r * mean(%s^2)" % (w, v) for v, w in self.penalties)

    def source(self):
        return "%s(%s, target)" % (self.loss.name, self.value) + "".join(
            " + %r * mean(%s * %s)" % (w, v, v) for v, w in self.penalties)

    def torch(self, values, t, F):
        """The objective from `values` (tensors by value name) and target `t`."""
        out = self.loss.torch_fn(values[self.value], t, F)
        for v, w in self.penalties:
            out = out + w * (values[v] * values[v]).mean()
        return out


def train_objective(seed, m, loss, outs):
    """The seed's objective: loss of the first output alone, or on two seeds of five that
    plus penalties on one or two other outputs (`outs`: the model's outputs on the train
    samples, by output name), each weighted by a power of two near 0.1 / mean(v^2) (exact in
    float32 and as the model's literal) so that no penalty outweighs the loss."""
    value = m.outputs[0][1]
    r = random.Random(seed * 7 + 3)
    others = sorted({v: o for o, v in m.outputs[1:] if v != value}.items())
    if not others or r.random() >= 0.4:
        return Objective(loss, value)
    penalties = []
    for v, o in r.sample(others, min(len(others), r.choice([1, 2]))):
        ms = float(np.mean(np.square(outs[o].astype(np.float64))))
        if np.isfinite(ms):
            penalties.append((v, 2.0 ** math.floor(math.log2(0.1 / max(1.0, ms)))))
    return Objective(loss, value, penalties)


def train_source(m, objective, target_type, opt, clip, source=None):
    """The model's source (or `source`, the same with a dim symbolic) with a target input of
    type `target_type` and a train block."""
    lines = (source or m.source).rstrip().splitlines()
    header = 1 + len(m.inputs_decl)
    target = "  input target: %s" % target_type
    train = ["  train {", "    loss = %s" % objective.source(), "    optimizer = %s" % opt]
    if clip:
        train.append("    clip_grad_norm = %g" % clip)
    train.append("  }")
    return "\n".join(lines[:header] + [target] + lines[header:-1] + train + ["}"]) + "\n"


@contextlib.contextmanager
def modules_copy(m):
    """m.modules replaced by a deep copy for the block (a reference that trains, loads other
    weights into or rounds the parameters), the model's own restored after it."""
    original = m.modules
    m.modules = copy.deepcopy(original)
    try:
        yield m.modules
    finally:
        m.modules = original


def train_reference(m, objective, inputs, target, make_opt, clip, l2, double, rows, moved=None, start=None):
    """PyTorch's state_dict after one step on each of `rows` (slices of the samples; layers
    in training behaviour), each parameter's gradient as the optimizer reads it in the first
    step (clipped, with L2 decay added), the loss and outputs of each step, and the parameters
    after the first step. `moved`: a seed by which
    every parameter element starts one float32 ulp up or down (see check_train). `start`: a
    dlrun checkpoint's tensors to start from (parameters, buffers, and SGD's momentum
    buffers as optim.NAME.momentum_buffer)."""
    import torch
    with modules_copy(m):
        if start is not None:
            m.modules.load_state_dict({n: torch.from_numpy(np.array(a)) for n, a in start.items()
                                       if not n.startswith("optim.")})
        if moved is not None:
            rng = np.random.RandomState(moved)
            with torch.no_grad():
                for p in m.modules.parameters():
                    a = p.detach().numpy()
                    p.copy_(torch.from_numpy(np.nextafter(a, np.where(rng.rand(*a.shape) < 0.5, np.inf, -np.inf)
                                                          .astype(a.dtype))))
        if double:
            m.modules.double()
        m.modules.train()
        params = [p for p in m.modules.parameters()]
        opt = make_opt(params, torch) if params else None  # a model without parameters trains nothing
        for n, p in m.modules.named_parameters() if start is not None else ():
            buf = start.get("optim.%s.momentum_buffer" % n)
            if buf is not None:
                opt.state[p]["momentum_buffer"] = torch.from_numpy(np.array(buf)).to(p.dtype)
        grads, losses, outputs, first = None, [], [], None
        for sl in rows:
            env = {n: torch.from_numpy(a[sl]) for n, a in inputs.items()}
            if double:
                env = {n: t.double() if t.is_floating_point() else t for n, t in env.items()}
            for name, fn in m.steps:
                env[name] = fn(env)
            t = torch.from_numpy(target[sl])
            loss = objective.torch(env, t.double() if double and t.is_floating_point() else t, torch.nn.functional)
            losses.append(float(loss))
            outputs.append({o: env[v].detach().numpy().copy() for o, v in m.outputs})
            if opt:
                opt.zero_grad(set_to_none=True)
            if loss.requires_grad:
                loss.backward()
            if clip and params:
                torch.nn.utils.clip_grad_norm_(params, clip)
            if grads is None:
                grads = {n: (p.grad.detach().double().numpy().copy() if p.grad is not None else np.zeros(p.shape)) +
                         l2 * p.detach().double().numpy() for n, p in m.modules.named_parameters()}
            if opt:
                opt.step()
            if first is None:
                first = {n: p.detach().double().numpy().copy() for n, p in m.modules.named_parameters()}
        return ({k: v.detach().double().numpy() for k, v in m.modules.state_dict().items()}, grads, losses, outputs,
                first)


def eval_reference(m, state, inputs, target, objective, double=False, rounded=False):
    """PyTorch's outputs and loss (as "loss") in eval behaviour (dropout off, batch norm on
    its running statistics) from the weights `state`, on all of `inputs`."""
    import torch
    with modules_copy(m):
        m.modules.load_state_dict({n: torch.from_numpy(np.array(a)) for n, a in state.items()})
        outs = m.reference(inputs, double, rounded)
    t = torch.from_numpy(target)
    values = {v: torch.from_numpy(outs[o]) for o, v in m.outputs}
    outs["loss"] = np.array(float(objective.torch(values, t.double() if double and t.is_floating_point() else t,
                                                  torch.nn.functional)))
    return outs


def farther(ref, a, b):
    """Per element, whichever of a and b lies farther from ref (where an infinity meets
    itself, b: the bound reads only finite differences)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(a - ref) > np.abs(b - ref), a, b)


def with_kinks(reference):
    """`reference(double)` (a train_reference) in float32 and float64, recording the inputs
    of the model's kinks (relu, abs, maxima); where float32 does not decide the side of some
    (within KINK times float32's largest error on that op's input; kinks.py), float64 again
    with each of them taken on the other side, one run each (at most FLIP_RUNS runs, those
    beyond shared out among them). (float32 run, float64 run, [those runs])."""
    from kinks import KINKS
    with KINKS.recording() as calls32:
        r32 = reference(False)
    with KINKS.recording() as calls64:
        r64 = reference(True)
    bounds, near = KINKS.near_bounds(calls32, calls64, KINK)
    flips = []
    for i in range(min(near, FLIP_RUNS)):
        with KINKS.flipping(bounds, lambda ordinal: ordinal % FLIP_RUNS == i):
            flips.append(reference(True))
    return r32, r64, flips


def spread(want64, flips):
    """How far, per element, the kinks flips took on the other side move float64's `want64`:
    (below, above) it, the flips' moves summed by sign (to first order each flip moves the
    result on its own, so any set of them dlc may take lands between)."""
    lo, hi = np.zeros(np.shape(want64)), np.zeros(np.shape(want64))
    for f in flips:
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf where both overflow
            d = np.asarray(f, dtype=np.float64) - want64
        d = np.where(np.isfinite(d), d, 0.0)
        lo += np.minimum(d, 0.0)
        hi += np.maximum(d, 0.0)
    return lo, hi


def first_step_checkpoint(wd, k):
    """Where check_resumed leaves kernel path k's checkpoint after one step."""
    return os.path.join(wd, "ck_%s.safetensors" % k)


def check_first_update(wd, k, initial, firsts, spreads, what):
    """SGD's first update of each parameter, dlc's (one step from the initial weights: the
    checkpoint check_resumed made) against PyTorch's (`firsts`: its parameters after the
    first step, float32, float64 and moved; `spreads`: the kinks', see spread()), compared
    as outputs are: the bound scales with
    the update, where the weights' scales with the weights, which lr * g is a small part of
    (an update 1% off passed that)."""
    import harness as h
    path = first_step_checkpoint(wd, k)
    if not os.path.exists(path):
        return []  # the step failed: check_resumed said so
    got = h.load_safetensors(path)[0]
    out = []
    for name in firsts[0]:
        start = initial[name].astype(np.float64)
        if not start.size:
            continue
        update = got[name].astype(np.float64) - start
        problem, _ = compare(*map(np.atleast_1d, [update] + [f[name] - start for f in firsts]), relative=True,
                             spread=spreads[name])
        if problem:
            out.append("%s %s, its first update: %s" % (what, name, problem))
    return out


def check_stepwise(m, seed, objective, inputs, target, make_opt, clip, l2, rows, train, initial, wd, k):
    """Where dlc's weights after all the steps are outside the bound: each step on its own,
    PyTorch's from dlc's weights and optimizer state after the steps before it (a checkpoint),
    compared as the weights are. What is wrong (None if nothing): a wrong gradient or update
    shows at the step that makes it; where every step passes, the steps amplify rounding
    (seed 165216: a layer norm over rows of two relu outputs, many of them equal, after
    Winograd-sized convolutions; dlc's step 1 within 9e-8 of float64, step 2 1.5e-6, step 3
    8.7e-4, each step PyTorch's from dlc's weights before it to 5e-8, while float32 PyTorch
    from parameters one ulp apart stayed within 6e-7). `initial`: the weights before the
    steps."""
    import harness as h
    start = initial
    for i, sl in enumerate(rows):
        # After step 1, check_resumed's checkpoint; after more, a run of that many steps.
        ck = first_step_checkpoint(wd, k) if i == 0 else os.path.join(wd, "step%d_%s.safetensors" % (i + 1, k))
        err = None if i == 0 else train(i + 1, "--checkpoint", ck)
        if err:
            return "%d steps: %s" % (i + 1, err)
        got = h.load_safetensors(ck)[0]
        def step(double, moved=None):
            return train_reference(m, objective, inputs, target, make_opt, clip, l2, double, [sl],
                                   moved=moved, start=start)[0]
        r32, r64, flipped = with_kinks(step)
        moved = step(False, seed + 20 + i)
        for name, want in r32.items():
            if not want.size:
                continue
            problem, _ = compare(*map(np.atleast_1d, (got[name].astype(np.float64), want, r64[name], moved[name])),
                                 spread=spread(r64[name], [f[name] for f in flipped]))
            if problem:
                return "step %d from dlc's weights after step %d, %s: %s" % (i + 1, i, name, problem)
        start = got
    return None


def check_train(m, seed, kernels, wd, rng, batch, problems, dynamic=None):
    """Train steps through dlrun train against PyTorch's, and the same steps resumed from a
    checkpoint against one run's; returns the largest error against PyTorch as a fraction
    of the bound, or None where the model's steps are not compared with PyTorch's (dropout,
    whose masks PyTorch cannot reproduce: those are only resumed). `dynamic`: check_dynamic's
    source with a dim symbolic and its first output's dims as dlrun info spells them; on odd
    seeds the steps train that model, the target declared with those dims (the gradients'
    code then learns the size at run time too), where dlc compiles its train step."""
    import harness as h
    opt, clip, make_opt, l2 = OPTIMIZERS[seed % len(OPTIMIZERS)]
    steps = train_steps(opt)
    batch, rows = train_rows(seed, opt, batch, steps)
    against_torch = "dropout(" not in m.source
    inputs = m.inputs(max(sl.stop for sl in rows), rng)
    outs = m.reference(inputs)
    shape = outs[m.outputs[0][0]].shape
    loss = train_loss(seed, shape)
    target_type, target = loss.make_target(shape, rng)
    objective = train_objective(seed, m, loss, outs)
    src = os.path.join(wd, "train.dl")
    with open(src, "w") as f:
        f.write(train_source(m, objective, target_type, opt, clip))
    compiled = set()  # kernel paths whose train_K.so is src's already
    if dynamic and seed % 2 and all(re.fullmatch(r"\w+", d) for d in dynamic[1]):
        spelled = target_type.split("[")[0] + "[%s]" % ", ".join(dynamic[1][:target.ndim])
        with open(os.path.join(wd, "train_dynamic.dl"), "w") as f:
            f.write(train_source(m, objective, spelled, opt, clip, dynamic[0]))
        cpu = [k for k in kernels if k != "cuda"][:1]
        if cpu and not compile_model(os.path.join(wd, "train_dynamic.dl"), os.path.join(wd, "train_%s.so" % cpu[0]),
                                     cpu[0]):
            src = os.path.join(wd, "train_dynamic.dl")
            compiled = set(cpu)  # (the loop below need not compile it again)
    weights = os.path.join(wd, "w.safetensors")
    diverges = None  # the first step whose loss PyTorch finds not finite
    steps_ref = None  # PyTorch's loss and outputs of each step: float32, float64, moved, kinks' spread
    if against_torch:
        r32, r64, flipped = with_kinks(lambda double: train_reference(m, objective, inputs, target, make_opt, clip,
                                                                      l2, double, rows))
        (want, grads, losses, _, first32), (want64, grads64, _, _, first64) = r32, r64
        # How far float32 rounding inside the steps moves the weights: float32 PyTorch from
        # parameters one ulp apart, twice (per element the one farther from float64). Where
        # the steps are ill-conditioned (seed 163281: layer norms over 3 features of tanh's
        # saturated outputs, a batch norm, three steps of SGD with momentum) any two float32
        # implementations end that far apart (there 0.03-0.06, where float32 PyTorch happened
        # to land 0.002 from float64, and inputs moved by one rounding move float64 by 1e-8:
        # the inference check's moved64 misses it).
        # The inputs are moved too, each float element by one float32 ulp (ulp_moved): where
        # the model cancels float32's rounding noise exactly in float64 (seed 167681: a
        # softmax's column summed by global_avg_pool2d, 1/16 everywhere but for that noise,
        # amplified by layer norms and a train-mode batch norm), parameters moved by an ulp
        # leave the noise as it was, while other inputs' rounding moves the output as far as
        # another float32 summation order does (2.2e-3; PyTorch's float32 happened to land
        # 2.6e-5 from float64).
        runs = [train_reference(m, objective, ulp_moved(inputs, seed + 20 + i), target, make_opt, clip, l2, False,
                                rows, moved=seed + 10 + i) for i in range(2)]
        moved = {n: farther(want64[n], runs[0][0][n], runs[1][0][n]) for n in want64}
        first_moved = {n: farther(first64[n], runs[0][4][n], runs[1][4][n]) for n in first64}
        spreads = {n: spread(want64[n], [f[0][n] for f in flipped]) for n in want64}
        first_spreads = {n: spread(first64[n], [f[4][n] for f in flipped]) for n in first64}

        def step_values(run):  # each step's outputs, with its loss as "loss"
            return [dict(o, loss=np.array(v)) for v, o in zip(run[2], run[3])]
        s32, s64, sa, sb = map(step_values, (r32, r64, runs[0], runs[1]))
        sf = list(zip(*map(step_values, flipped))) or [()] * len(s64)  # per step, each flip's
        steps_ref = [(x, y, {n: farther(y[n], a[n], b[n]) for n in y},
                      {n: spread(y[n], [f[n] for f in fs]) for n in y}) for x, y, a, b, fs in zip(s32, s64, sa, sb, sf)]
        diverges = next((i + 1 for i, v in enumerate(losses) if not np.isfinite(v)), None)
    data = list(inputs.items()) + [("target", target)]
    initial = h.load_safetensors(weights)[0]  # the weights before the steps
    worst = 0.0
    for k in kernels:
        what = "train %s (%s, %s)" % (k, opt, objective.name)
        so = os.path.join(wd, "train_%s.so" % k)
        err = None if k in compiled else compile_model(src, so, k)
        if err and k == "cuda" and CPU_ONLY_PLUGIN in err:
            continue
        if err:
            problems.append("train %s: %s" % (k, err))
            continue

        def train(count, *extra):
            return run_dlrun(["train", so, "--weights", weights, "--steps", str(count), "--batch", str(batch),
                              "--no-shuffle"] + (["--threads", "2"] if k != "cuda" else []) + list(extra), data, wd,
                             "train", cuda=k == "cuda")

        after = os.path.join(wd, "after_%s.safetensors" % k)
        err = train(steps, "--save", after)
        if diverges:
            # PyTorch's steps diverge (SGD's later steps on a model that amplifies): dlrun
            # must refuse the step whose loss is not finite, as TOOLS.md says, and nothing
            # is left to compare.
            if not (k == "cuda" and FAKE_CUDA) and (not err or "step %d: the loss is" % diverges not in err):
                problems.append("%s: PyTorch's loss at step %d is %g, dlrun: %s" % (
                    what, diverges, losses[diverges - 1], err or "no error"))
            continue
        if k == "cuda" and FAKE_CUDA and err and "the loss is nan" in err:
            err = None  # no kernel ran: the loss is whatever the memory held
        if err:
            problems.append("%s: %s" % (what, err))
            continue
        if k == "cuda" and FAKE_CUDA:
            continue  # no kernel ran: nothing to compare
        problem = check_resumed(train, after, steps, wd, k)
        if problem:
            problems.append("%s: %s" % (what, problem))
        if k != "cuda":
            w = check_steps_in_session(m, so, weights, after, inputs, target, rows, objective, steps_ref, wd, k, what,
                                       problems)
            worst = max(worst, w)
        if not against_torch:
            continue
        got_all, _ = h.load_safetensors(after)
        weight_problems, fracs = [], []
        for name, ref in want.items():
            got = got_all[name].astype(np.float64)
            if opt.startswith("adam") and name in grads:
                assert steps == 1  # the mask below is the first step's
                # Adam's first step is lr * g / (|g| + eps) with g the gradient it reads
                # (decay added): one that float32 does not determine, near zero by
                # cancellation or against the decay, flips it. Such g are left out: those
                # under 1e-6 and those within COND times float32 PyTorch's own error.
                keep = np.abs(grads[name]) >= np.maximum(1e-6, COND * np.abs(grads[name] - grads64[name]))
                # A ReLU's pre-activation within rounding of 0 takes its gradient through or
                # not (seed 164411 capped at AVX2: one of 1.2e-7, where dlc's Winograd
                # convolution rounds to 1e-6 of its terms, changed p0's and p1's gradients by
                # up to 1.8% of their largest, turning the signs of some of a channel's small
                # ones; with dlc's mask float64 PyTorch's agree to 3e-6). Steps of the other
                # sign are let pass where the gradients they stand for hold at most 1% of
                # the tensor's gradient mass (sum of |g|); a wrong gradient turns more.
                start = initial[name].astype(np.float64)
                turned = keep & (np.sign(got - start) != np.sign(ref - start))
                mass = np.abs(grads[name])
                if mass[turned].sum() <= 0.01 * mass.sum():
                    keep &= ~turned
                got = np.where(keep, got, ref)
            # As an output is compared: NaN where PyTorch's is, its infinities, the rest
            # within the bound.
            # (A 0-d buffer, num_batches_tracked, as one element.)
            problem, frac = compare(*map(np.atleast_1d, (got, ref, want64[name], moved[name])),
                                    spread=spreads[name]) if ref.size else (None, 0.0)
            if problem:
                weight_problems.append("%s %s: %s" % (what, name, problem))
            else:
                fracs.append(frac)
        if weight_problems and steps > 1:
            stepwise = check_stepwise(m, seed, objective, inputs, target, make_opt, clip, l2, rows, train, initial,
                                      wd, k)
            weight_problems = [] if stepwise is None else weight_problems + ["%s: %s" % (what, stepwise)]
        problems += weight_problems
        if steps > 1:
            problems += check_first_update(wd, k, initial, (first32, first64, first_moved), first_spreads, what)
        worst = max([worst] + fracs)
    return worst if against_torch and not diverges else None


def train_batch(seed, small):
    """The batch a model trains on: the inference check's larger one (2-5 rows), or on every
    third seed 16-48 rows, where more of the backward kernels (weight gradients summed over
    the batch, Winograd's tiles, the products of a dense layer) have work enough to be
    shared by the two threads dlrun runs them on."""
    return small if seed % 3 else int(np.random.RandomState(seed + 4).randint(16, 49))


def train_rows(seed, opt, batch, steps):
    """The batch dlrun train is given and the samples each of its `steps` steps takes
    (slices, in order, no shuffling): on half of the SGD seeds 2 * batch - 1 samples, so
    that the steps alternate between a full batch and the last partial one, one sample
    smaller (batch is at least 3: a partial batch of one sample would be skipped where batch
    norm cannot train on it), and one session runs its train step at two batch sizes and back
    again, as every epoch with a partial last batch does; elsewhere every step takes the same
    `batch` samples."""
    # (apart from the optimizer, seed % len(OPTIMIZERS), and the loss, the next digit)
    if not opt.startswith("sgd") or (seed // (len(OPTIMIZERS) * len(LOSSES))) % 2 == 0:
        return batch, [slice(0, batch)] * steps
    batch = max(batch, 3)
    return batch, [slice(0, batch) if i % 2 == 0 else slice(batch, 2 * batch - 1) for i in range(steps)]


RESUMED_STEPS = 3


def check_resumed(train, after, steps, wd, k):
    """What is wrong (None if nothing) with RESUMED_STEPS steps taken as one step, a
    checkpoint, and the rest resumed from it, against the same steps in one run (`after`,
    where `steps` is that many): TOOLS.md promises the same weights bit for bit, so the
    checkpoint must hold everything a step leaves for the next (optimizer moments, momentum,
    batch norm's running statistics, the step count that seeds dropout's masks)."""
    straight = after
    if steps != RESUMED_STEPS:
        straight = os.path.join(wd, "straight_%s.safetensors" % k)
        err = train(RESUMED_STEPS, "--save", straight)
        if err:
            return "%d steps: %s" % (RESUMED_STEPS, err)
    ck, resumed = first_step_checkpoint(wd, k), os.path.join(wd, "resumed_%s.safetensors" % k)
    err = train(1, "--checkpoint", ck) or train(RESUMED_STEPS, "--resume", ck, "--save", resumed)
    if err:
        return "resumed: %s" % err
    name = first_difference(straight, resumed)
    if name:
        return "resumed from a checkpoint after step 1, %s differs from %d steps in one run" % (name, RESUMED_STEPS)
    return None


def first_difference(want, got):
    """The first tensor of weights file `want` that file `got` lacks or holds other bits of;
    None where every one is the same, bit for bit."""
    import harness as h
    want, got = h.load_safetensors(want)[0], h.load_safetensors(got)[0]
    return next((name for name, w in want.items() if name not in got or got[name].tobytes() != w.tobytes()), None)


def with_non_finite(inputs, rng):
    """A copy of `inputs` with +inf, -inf and NaN at random places of its float inputs."""
    out = {n: a.copy() for n, a in inputs.items()}
    floats = [n for n, a in out.items() if a.dtype == np.float32 and a.size]
    for value in (np.inf, -np.inf, np.nan):
        a = out[floats[rng.randint(len(floats))]]
        a.flat[rng.randint(a.size)] = value
    return out


def with_outliers(inputs, rng):
    """A copy of `inputs` with a few elements of each float input 30 to 30,000 times the
    typical size: kernels that work on patches or blocks (Winograd's tiles, which take an
    outlier's tile by direct sums) see one element dominate its neighbours."""
    out = {n: a.copy() for n, a in inputs.items()}
    for a in out.values():
        if a.dtype != np.float32 or not a.size:
            continue
        for _ in range(rng.randint(1, 4)):
            a.flat[rng.randint(a.size)] = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(1.5, 4.5)
    return out


def perturbed(inputs, seed):
    """A copy of `inputs` whose float elements are each moved by up to one float32 rounding
    (a relative 2^-24, seeded): how far that moves an output, computed in float64, says how
    ill-conditioned the model computes it."""
    rng = np.random.RandomState(seed)
    return {n: a.astype(np.float64) * (1 + rng.uniform(-1, 1, a.shape) * 2.0 ** -24) if a.dtype == np.float32 else a
            for n, a in inputs.items()}


def ulp_moved(inputs, seed):
    """A copy of `inputs` whose float32 elements are each moved one float32 ulp up or down
    (seeded; perturbed's moves are smaller than float32 can hold)."""
    rng = np.random.RandomState(seed)
    return {n: np.nextafter(a, np.where(rng.rand(*a.shape) < 0.5, -np.inf, np.inf).astype(np.float32))
            if a.dtype == np.float32 else a for n, a in inputs.items()}


@contextlib.contextmanager
def bf16_products():
    """PyTorch's dense, matmul and convolutions reading their operands rounded to bf16, as
    dlc's bf16 kernels do (the bias added after, unrounded); attention's products too
    (torch.bmm and baddbmm in MultiheadAttention's Python path, which it takes with grad
    enabled: without, its fused kernel), as dlc's bf16 attention runs them as matmuls.
    Seed 171443: an attention over outliers whose scores' rounding moved a softmax's
    winner, an output 74.74 where float64 has -68.58; with q, k, the weights and v rounded
    to bf16 float64 gives 74.74 too, where the bound had left them unrounded."""
    import torch
    import torch.nn.functional as F

    def r(t):
        return t.to(torch.bfloat16).to(t.dtype)

    def rounding(op, spatial):  # the bias along the last dim of a dense, dim 1 of a convolution's
        def run(x, w, bias=None, *rest, **kw):
            y = op(r(x), r(w), None, *rest, **kw)
            return y if bias is None else y + bias.reshape((-1,) + (1,) * (y.dim() - 2 if spatial else 0))
        return run

    saved = {k: getattr(F, k) for k in ("linear", "conv1d", "conv2d", "conv_transpose2d")}
    mm, tmm, bmm, baddbmm = torch.Tensor.__matmul__, torch.matmul, torch.bmm, torch.baddbmm
    mha = torch.nn.MultiheadAttention.forward

    def python_mha(self, *args, **kw):
        with torch.enable_grad():
            return tuple(None if o is None else o.detach() for o in mha(self, *args, **kw))
    try:
        torch.nn.MultiheadAttention.forward = python_mha
        for k, op in saved.items():
            setattr(F, k, rounding(op, k != "linear"))
        torch.Tensor.__matmul__ = lambda a, b: mm(r(a), r(b))
        torch.matmul = lambda a, b: tmm(r(a), r(b))
        torch.bmm = lambda a, b: bmm(r(a), r(b))
        torch.baddbmm = lambda c, a, b, **kw: baddbmm(c, r(a), r(b), **kw)
        yield
    finally:
        for k, op in saved.items():
            setattr(F, k, op)
        torch.Tensor.__matmul__, torch.matmul, torch.bmm, torch.baddbmm = mm, tmm, bmm, baddbmm
        torch.nn.MultiheadAttention.forward = mha


def bf16_moved(m, inputs, want64):
    """How far bf16 rounding moves each output (see PRECISION), per element the farther of
    two float64 PyTorch runs from `want64` (float64 on the inputs as they are): one that
    rounds to bf16 exactly what dlc's bf16 kernels read, every product's operands,
    intermediate ones included (bf16_products), and one that also rounds the inputs and
    every parameter. Seed 170296: a layer norm over rows of two nearly equal values after
    two convolutions of an outlier's neighbourhood; with the inputs and parameters alone
    rounded, float64 moved by 0.078 where rounding the second convolution's input
    (hundreds) moves it by 0.5. Seed 172137: layer norms over rows of two after a
    convolution whose two outputs differ by 0.0024 in float64 and 0.0020 with its operands
    in bf16, which turns the second layer norm's rows round (0.74 against -0.90, float32
    PyTorch on dlc's convolution gives dlc's bits); rounding the inputs and the layer
    norms' parameters as well happened to move that difference the other way, and the
    bound missed it."""
    import torch

    def rounded(a):
        return torch.from_numpy(np.asarray(a, np.float32)).to(torch.bfloat16).to(torch.float32).numpy()
    with modules_copy(m), torch.no_grad(), bf16_products():
        as_dlc = m.reference(inputs, double=True)
        for p in m.modules.parameters():
            p.copy_(torch.from_numpy(rounded(p.detach().numpy())))
        everything = m.reference({n: rounded(a) if a.dtype == np.float32 else a for n, a in inputs.items()},
                                 double=True)
    return {n: farther(want64[n], as_dlc[n], everything[n]) for n in want64}


def tolerance(want, want64, moved64=None, relative=False):
    """The bound per element of the error against PyTorch's float32 `want` (see the top);
    `relative`: its absolute term scaled by want's largest magnitude however small (an
    update's), not at least 1."""
    scale = float(np.abs(want).max()) if relative else max(1.0, float(np.abs(want).max()))
    # How far float32 rounding alone moves this output (PyTorch's float32 against its
    # float64, and float64 against float64 of inputs moved by one rounding): where the model
    # is ill-conditioned, any two float32 implementations differ by about that much
    # anywhere in it. The second catches what the first misses where float32 PyTorch
    # happens to land near float64 (seed 150143, with outliers: layer norms of layer norms
    # over rows of 2, float32 and float64 6e-6 apart, where inputs moved by one rounding
    # moved the float64 output 5.9e-5).
    # Only where both are finite: an element that overflows or is NaN in one of them says
    # nothing about rounding (and an infinite or NaN bound would pass anything).
    rounding = 0.0
    for a, b in ((want, want64), (want64, moved64)):
        if b is None:
            continue
        diff = np.abs(a - b)
        diff = diff[np.isfinite(diff)]
        rounding = max(rounding, float(diff.max()) if diff.size else 0.0)
    return (BF16_ATOL if PRECISION == "bf16" else ATOL) * scale + RTOL * np.abs(want) + COND * rounding


def compare(got, want, want64, moved64=None, relative=False, spread=None):
    """What is wrong with output `got` against PyTorch's float32 `want` (None if nothing),
    and its largest error as a fraction of the tolerance. NaN must be where PyTorch has NaN
    and nowhere else, infinities equal to PyTorch's, the finite elements within the bound.
    `spread`: (below, above) per element, how far kinks float32 does not decide move the
    result (see spread()); the error is then the distance from `got` to want's interval
    [want + below, want + above]."""
    nan, inf, finite = np.isnan(want), np.isinf(want), np.isfinite(want)
    if not np.array_equal(np.isnan(got), nan):
        i = np.unravel_index(np.argmax(np.isnan(got) != nan), want.shape)
        return "NaN pattern differs from torch's (%d NaN, torch %d) first at %s (dlc %.6g, torch %.6g)" % (
            int(np.isnan(got).sum()), int(nan.sum()), i, got[i], want[i]), 0.0
    if np.any(got[inf] != want[inf]):
        i = np.unravel_index(np.argmax(inf & (got != want)), want.shape)
        return "infinity differs at %s (dlc %.6g, torch %.6g)" % (i, got[i], want[i]), 0.0
    if not finite.any():
        return None, 0.0
    g, w = got[finite].astype(np.float64), want[finite]
    if spread is None:
        err = np.abs(g - w)
    else:
        below, above = (np.broadcast_to(np.atleast_1d(v), want.shape)[finite] for v in spread)
        err = np.maximum(0.0, np.maximum(g - (w + above), (w + below) - g))
    err[~np.isfinite(g)] = np.inf
    bound = tolerance(w, want64[finite], None if moved64 is None else moved64[finite], relative)
    if np.any(err > bound):
        j = int(np.argmax(err - bound))
        i = tuple(int(v[j]) for v in np.nonzero(finite))
        return "max error %.3g at %s (dlc %.6g, torch %.6g)" % (err.max(), i, got[i], want[i]), 0.0
    return None, float((err / bound).max())


# The non-batch dims a model's inputs may declare symbolic instead (DSL.md: a dim is an
# integer or a symbolic name): the sequence length, an image's height or width, the ids'
# length; (input, dim, symbol).
DYNAMIC_DIMS = [("seq", 1, "T"), ("img", 2, "H"), ("img", 3, "W"), ("ids", 1, "L")]


def dynamic_sources(m, seed):
    """m's source with one of its inputs' non-batch dims symbolic, for each such dim, in an
    order drawn by the seed: (what, source, (input, dim, symbol))."""
    out = []
    for name, dim, symbol in DYNAMIC_DIMS:
        decl = next((d for d in m.inputs_decl if d[0] == name), None)
        if decl is None:
            continue
        _, dtype, shape = decl
        line = "  input %s: %s[%s]" % (name, dtype, ", ".join(map(str, shape)))
        dyn = list(shape)
        dyn[dim] = symbol
        out.append(("%s's dim %d as %s" % (name, dim, symbol),
                    m.source.replace(line, "  input %s: %s[%s]" % (name, dtype, ", ".join(map(str, dyn))), 1),
                    (name, dim, symbol)))
    random.Random(seed).shuffle(out)
    return out


def clamped_slice(info, symbol, size):
    """Whether `dlrun info` text `info` requires `symbol` >= a bound above `size` for a slice
    (a symbolic dim's slice is not clamped: it needs the size in its bounds)."""
    for bound in re.findall(r"^\s+%s >= (\d+)\s+slice at .*Python's slicing would clamp" % re.escape(symbol), info,
                            re.M):
        if size < int(bound):
            return True
    return False


def check_dynamic(m, seed, kernels, weights, case, refs, wd, problems):
    """The larger batch again, from the model with one non-batch dim of an input symbolic
    (dynamic_sources: the first that dlc compiles): the same numbers from code that learns
    the size at run time. dlc refuses some, rightly and alike on both paths: a dim that sizes
    a layer's parameters, a slice along it from the end to a bound from the start, or one
    that equalled another dim only by the draw (a matmul's inner dims, T against 4); and a
    slice along it whose bounds Python clamps at the drawn size fails the call alike (a
    symbolic dim's slice is not clamped: the call needs the size in the bounds; where that
    slice's rows size a layer's parameters, the static model's weights do not load there,
    seed 203947: a batch_norm over slice(seq, 1, 28, 100) of T = 37 rows). Returns
    the largest error as a fraction of the bound, and where one compiled its source and its
    first output's dims as dlrun info spells them (check_train's `dynamic`), else None."""
    import harness as h
    worst = 0.0
    cpu = [k for k in kernels if k != "cuda"]
    for what, text, (name, dim, symbol) in dynamic_sources(m, seed) if cpu else ():
        src = os.path.join(wd, "dynamic.dl")
        with open(src, "w") as f:
            f.write(text)
        errors = {k: compile_model(src, os.path.join(wd, "dynamic_%s.so" % k), k) for k in cpu}
        refusals = set(e.replace(wd, "") if e else None for e in errors.values())
        if len(refusals) == 1 and None not in refusals:
            continue  # the same refusal on every path: try the next dim
        runs = {}
        for k in cpu:
            if errors[k]:
                problems.append("%s, %s: %s" % (k, what, errors[k]))
                continue
            out = os.path.join(wd, "out_%s_dynamic" % k)
            runs[k] = (out, run_dlrun(["infer", os.path.join(wd, "dynamic_%s.so" % k), "--weights", weights, "--out-dir",
                                       out, "--threads", "2"], case[1].items(), wd, "dynamic"))
        failures = set(err for _, err in runs.values())
        if len(runs) == len(cpu) and len(failures) == 1 and None not in failures:
            err = failures.pop()
            if "Python's slicing would clamp" in err or clamped_slice(
                    h.dlrun(["info", os.path.join(wd, "dynamic_%s.so" % cpu[0])], check=False).stdout, symbol,
                    dict(case[1])[name].shape[dim]):
                continue  # a slice whose bounds clamp at this size, alike on every path: the next dim
        for k, (out, err) in runs.items():
            if err:
                problems.append("%s b%d, %s: %s" % (k, case[0], what, err))
                continue
            worst = max(worst, compare_all(out, refs, "%s b%d, %s" % (k, case[0], what), problems))
        compiled = [k for k in cpu if not errors[k]]
        if not compiled:
            return worst, None
        info = h.dlrun(["info", os.path.join(wd, "dynamic_%s.so" % compiled[0])], check=False).stdout
        row = re.search(r"^\s+%s\s+\w+\s+\[([^\]]*)\]" % re.escape(m.outputs[0][0]), info, re.M)
        return worst, (text, row.group(1).split(", ") if row else [""])
    return worst, None


def check_model(args):
    seed, kernels, keep, max_ops, train = args[:5]
    only = args[5] if len(args) > 5 else None
    trained, dynamic = False, None
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
        # The larger batch again with an infinity, a -infinity and a NaN in its float inputs
        # (seeded places): outputs NaN exactly where PyTorch's are, +-inf where its are; and
        # with a few outlying elements (finite, 30-30,000 where the rest are N(0, 1)).
        variants = []
        if any(a.dtype == np.float32 for a in cases[1][1].values()):
            cases.append((batches[1], with_non_finite(cases[1][1], np.random.RandomState(seed + 1))))
            variants.append("non-finite")
            cases.append((batches[1], with_outliers(cases[1][1], np.random.RandomState(seed + 2))))
            variants.append("outliers")
        tags = ["b%d" % b if case < 2 else "b%d %s" % (b, variants[case - 2]) for case, (b, _) in enumerate(cases)]
        refs = [m.reference(inp) for _, inp in cases]
        refs64 = [m.reference(inp, double=True) for _, inp in cases]
        if PRECISION == "bf16":
            moved64 = [bf16_moved(m, inp, r64) for (_, inp), r64 in zip(cases, refs64)]
        else:
            moved64 = [m.reference(perturbed(inp, seed + 3 + i), double=True, rounded=True)
                       for i, (_, inp) in enumerate(cases)]
        for k in kernels:
            so = os.path.join(wd, "model_%s.so" % k)
            err = compile_model(src, so, k)
            if err and k == "cuda" and CPU_ONLY_PLUGIN in err:
                continue
            if err:
                problems.append("%s: %s" % (k, err))
                continue
            for case, ((b, inp), tag, ref, ref64, mv64) in enumerate(zip(cases, tags, refs, refs64, moved64)):
                out = os.path.join(wd, "out_%s_%d" % (k, case))
                # The larger batch runs on two threads: on even seeds split into slices
                # of the batch wherever dlc proved the model keeps samples apart (the
                # runtime's DLRT_BATCH_SPLIT=always makes it do so however small the
                # model); on odd seeds whole (off), each kernel sharing its work between
                # the threads where it is large enough (Winograd's output channels, the
                # LSTM's hidden units, rows of a matmul).
                two = b > 1 and k != "cuda"
                split = "always" if seed % 2 == 0 else "off"
                err = run_dlrun(["infer", so, "--weights", weights, "--out-dir", out] +
                                (["--threads", "2"] if two else []), inp.items(), wd, str(case),
                                cuda=k == "cuda", env_extra={"DLRT_BATCH_SPLIT": split} if two else None)
                if err:
                    problems.append("%s %s: %s" % (k, tag, err))
                    continue
                if k == "cuda" and FAKE_CUDA:
                    continue  # no kernel ran: nothing to compare
                worst = max(worst, compare_all(out, (ref, ref64, mv64), "%s %s" % (k, tag), problems))
            if k != "cuda":
                w = check_session_calls(so, weights, cases, tags, refs, refs64, moved64, wd, k, seed, problems)
                worst = max(worst, w)
        w, dynamic = check_dynamic(m, seed, kernels, weights, cases[1], (refs[1], refs64[1], moved64[1]), wd, problems)
        worst = max(worst, w)
        if not only and train:
            w = check_train(m, seed, kernels, wd, rng, train_batch(seed, int(batches[1])), problems, dynamic)
            if w is not None:
                worst = max(worst, w)
                trained = True
    except Exception as e:  # a generator bug is reported as such, not hidden
        problems.append("harness: %s: %s" % (type(e).__name__, e))
    if problems and keep:
        dst = os.path.join(keep, "seed%d" % seed)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(wd, dst)
        with open(os.path.join(dst, "report.txt"), "w") as f:
            f.write("\n".join(problems) + "\n")
    shutil.rmtree(wd, ignore_errors=True)
    return seed, problems, worst, (trained, dynamic is not None)


@functools.lru_cache(maxsize=None)
def sanitizer_preload():
    """The environment session_calls.py needs to load a libdlrt built with ASan (DLC_BIN=
    build-asan/bin): Python is not instrumented, so the sanitizer's runtime is preloaded (and
    its leak check, which would report the interpreter's own, is off). Empty otherwise."""
    lib = os.path.join(BIN, "..", "lib", "libdlrt.so")
    r = subprocess.run(["nm", "-D", "--undefined-only", lib], capture_output=True, text=True)
    if "__asan_init" not in r.stdout:
        return {}
    cc = os.environ.get("DLC_CLANG", "clang-22")
    rt = subprocess.run([cc, "-print-file-name=libclang_rt.asan-x86_64.so"], capture_output=True, text=True)
    return {"LD_PRELOAD": rt.stdout.strip(),
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"}


# The order of check_session_calls's calls in one session, as indices of check_model's
# cases (0: batch 1, 1: the larger batch, 2 and 3: the larger batch's non-finite and
# outlying variants): every call's batch size differs from the one before it, and each
# size comes back after another.
SESSION_ORDER = [1, 0, 2, 0, 3, 1]


def run_session(so, weights, calls, wd, tag, env_extra, save=None):
    """session_calls.py on `calls` in one session of two threads: None, or what went wrong."""
    import json
    plan = os.path.join(wd, "session_%s.json" % tag)
    with open(plan, "w") as f:
        json.dump({"model": so, "weights": weights, "threads": 2, "lib": os.path.join(BIN, "..", "lib"),
                   "plugins": PLUGIN_DIR, "calls": calls, "save": save}, f)
    env = dict(os.environ, OMP_WAIT_POLICY="passive", **env_extra, **sanitizer_preload())
    r = subprocess.run([sys.executable, os.path.join(HERE, "session_calls.py"), plan], capture_output=True,
                       text=True, timeout=300, env=env)
    return None if r.returncode == 0 else r.stderr.strip()[-600:]


def compare_all(out, refs, what, problems):
    """Each of refs' (float32, float64, moved[, spread]) values against the .npy of its name
    in `out`; the largest error as a fraction of the bound."""
    worst = 0.0
    for name, want in refs[0].items():
        got = np.load(os.path.join(out, name + ".npy"))
        if got.shape != np.shape(want):
            problems.append("%s %s: shape %s, torch %s" % (what, name, got.shape, np.shape(want)))
            continue
        # (A 0-d value, a loss, as one element.)
        problem, w = compare(*(np.atleast_1d(v) for v in (got, want) + tuple(r[name] for r in refs[1:3])),
                             spread=refs[3][name] if len(refs) > 3 else None)
        if problem:
            problems.append("%s %s: %s" % (what, name, problem))
        worst = max(worst, w)
    return worst


def check_session_calls(so, weights, cases, tags, refs, refs64, moved64, wd, k, seed, problems):
    """The inference cases again, one after another in one session (session_calls.py) on
    two threads, checked as their own runs are; returns the largest error as a fraction of
    the bound."""
    order = [c for c in SESSION_ORDER if c < len(cases)]
    calls = [{"inputs": {n: os.path.join(wd, "in_%d_%s.npy" % (c, n)) for n in cases[c][1]},
              "out": os.path.join(wd, "session_%s_%d" % (k, i)), "over_input": i % 2 == 1}
             for i, c in enumerate(order)]
    err = run_session(so, weights, calls, wd, k, {"DLRT_BATCH_SPLIT": "always" if seed % 2 == 0 else "off"})
    if err:
        problems.append("%s one session: %s" % (k, err))
        return 0.0
    worst = 0.0
    for i, c in enumerate(order):
        worst = max(worst, compare_all(calls[i]["out"], (refs[c], refs64[c], moved64[c]),
                                       "%s one session, call %d (%s)" % (k, i + 1, tags[c]), problems))
    return worst


def check_steps_in_session(m, so, weights, after, inputs, target, rows, objective, steps_ref, wd, k, what, problems):
    """dlrun train's steps again through the C API in one session (session_calls.py), then an
    eval step on all the samples (the second step and the eval step each writing its first
    output that fits over its largest float input). The weights they leave must be dlrun's
    bit for bit (the same steps, as TOOLS.md promises); each step's loss and outputs (train
    behaviour) PyTorch's where `steps_ref` has them (no dropout); the eval step's loss and
    outputs PyTorch's in eval behaviour (dropout off, batch norm on its running statistics)
    from the weights the steps left, and its predicted classes, for a class loss, the
    largest of its outputs. Returns the largest error against PyTorch as a fraction of the
    bound."""
    import harness as h
    data = dict(inputs, target=target)

    def saved(sl):  # the samples of slice `sl`, one .npy per input (written once per slice)
        files = {n: os.path.join(wd, "rows%s-%s_%s.npy" % (sl.start, sl.stop, n)) for n in data}
        for n, a in data.items():
            if not os.path.exists(files[n]):
                np.save(files[n], a[sl])
        return files
    calls = [{"kind": "train", "inputs": saved(sl), "out": os.path.join(wd, "steps_%s_%d" % (k, i)),
              "over_input": i == 1} for i, sl in enumerate(rows)]
    calls.append({"kind": "eval", "inputs": saved(slice(None)), "out": os.path.join(wd, "eval_%s" % k),
                  "over_input": True})
    weights_after = os.path.join(wd, "steps_%s.safetensors" % k)
    err = run_session(so, weights, calls, wd, "train_" + k, {}, save=weights_after)
    if err:
        problems.append("%s, through the C API: %s" % (what, err))
        return 0.0
    name = first_difference(after, weights_after)
    if name:
        problems.append("%s: %s after the steps through the C API differs from dlrun train's" % (what, name))
    state = h.load_safetensors(weights_after)[0]
    worst = 0.0
    for i, refs in enumerate(steps_ref or []):
        worst = max(worst, compare_all(calls[i]["out"], refs, "%s, step %d through the C API" % (what, i + 1),
                                       problems))
    refs = [eval_reference(m, state, inputs, target, objective),
            eval_reference(m, state, inputs, target, objective, True),
            eval_reference(m, state, perturbed(inputs, 7), target, objective, True, True)]
    out = calls[-1]["out"]
    worst = max(worst, compare_all(out, refs, "%s, eval step" % what, problems))
    if os.path.exists(os.path.join(out, "predictions.npy")):
        pred = np.load(os.path.join(out, "predictions.npy"))
        value = np.load(os.path.join(out, m.outputs[0][0] + ".npy"))
        rows_ok = np.isfinite(value).all(-1)
        picked = np.take_along_axis(value, np.clip(pred, 0, value.shape[-1] - 1)[..., None], -1)[..., 0]
        bad = rows_ok & ((pred < 0) | (pred >= value.shape[-1]) | (picked != value.max(-1)))
        if bad.any():
            i = tuple(int(v[0]) for v in np.nonzero(bad))
            problems.append("%s, eval step: predicted class %d at %s is not the largest output (%g, largest %g)" % (
                what, pred[i], i, picked[i], value[i].max()))
    return worst


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
            _, still, _, _ = check_model((seed, kernels, "", a.max_ops, False, trial))
            if still:
                outs = trial
        keep = os.path.join(a.keep or scratch, "seed%d-reduced" % seed)
        _, problems, _, _ = check_model((seed, kernels, scratch, a.max_ops, False, outs))
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
    ap.add_argument("--no-train", action="store_true", help="inference only, without the train step per model")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="compile with dlc --precision (bf16: inference only, against a wider bound; see PRECISION)")
    ap.add_argument("--reduce", action="store_true",
                    help="for each failing model, keep only one failing output and what it is computed "
                         "from, and save that model under --keep (seedN-OUTPUT)")
    a = ap.parse_args()
    global PRECISION
    PRECISION = a.precision
    if PRECISION == "bf16":
        # A train step's update is smaller than the bf16 bound on the weights it changes:
        # compared so, it would pass anything.
        a.no_train = True
    kernels = a.kernels.split(",")
    t0 = time.time()
    jobs = [(s, kernels, a.keep, a.max_ops, not a.no_train) for s in range(a.seed, a.seed + a.count)]
    failed, worst, worst_seed, failures, trained, dynamic = 0, 0.0, None, [], 0, 0
    with multiprocessing.Pool(a.jobs) as pool:
        for seed, problems, w, (t, d) in pool.imap_unordered(check_model, jobs):
            trained += t
            dynamic += d
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
    print("difftest: %d models (seeds %d..%d) on %s%s, batches 1 and 2-5 (and 2-5 with inf, -inf and NaN inputs, "
          "with outliers, and %d with a dynamic dim), %d with a train step: %d passed, %d failed; largest error on "
          "passing outputs %.2f of the tolerance (seed %s); %.0f s" %
          (a.count, a.seed, a.seed + a.count - 1, "+".join(kernels), ", bf16" if PRECISION == "bf16" else "",
           dynamic, trained, a.count - failed, failed, worst, worst_seed, time.time() - t0))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
