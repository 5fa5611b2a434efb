"""Random, shape-valid .dl models with a PyTorch reference for each (NNSmith's idea).

A model is grown one statement at a time from a pool of live values: each new op draws
its operands from the pool (mostly the newest value, often an older one, so values feed
several consumers and stay live across long chains) and is chosen among the ops whose
shape rules the operands satisfy. The draw covers every layer and operation of DSL.md
that inference runs: convolutions with odd channel counts and Winograd-sized ones (64+
channels, 3x3, stride 1), layout changes between convolutions and dense layers
(flatten, reshape to images), residuals across pools, concat, reductions over inner
axes, softmax and normalisation chains with several readers, recurrent layers after
attention, embeddings, shape ops, broadcasting arithmetic and literals.

Every layer with parameters is named explicitly (`name = "pK"`), and its PyTorch module
gets the same name, so one state_dict is both the model's weights file and the reference's
parameters. Dim 0 is the batch, symbolic (`B`) in the model.

`Model.source` is the .dl text; `Model.reference(inputs)` computes every output with
PyTorch; `Model.state_dict()` the weights by their DSL names; `Model.inputs(batch, rng)`
random inputs.
"""
import math
import random
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from kinks import KINKS

# PyTorch's note that conv1d's padding = "same" with an even kernel pads a copy of its
# input: what the reference should do, and no news in a test's output.
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")


def gelu(t, approximate="none"):
    """F.gelu, whose gradient reaches it contiguous: PyTorch 1.13's exact GELU backward
    returns uninitialised memory (1e36, denormals, NaN; different from run to run) where
    the gradient it is given is not contiguous, as a transposed one from attention's
    backward is (seed 163853: a GELU between two attentions; its tanh form and the other
    activations only round otherwise there)."""
    y = F.gelu(t, approximate=approximate)
    if y.requires_grad:
        y.register_hook(lambda g: g.contiguous())
    return y


class RMSNorm(torch.nn.Module):
    """The shipped rms_norm plugin layer (plugins/rms_norm), in torch ops."""

    def __init__(self, d, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _dims(v):
    """An attribute given as an int or a pair (H, W), as the pair."""
    return tuple(v) if isinstance(v, tuple) else (v, v)


def _pair_text(v):
    """An int or a pair (H, W) as a model writes it: one int where both are the same."""
    a, b = _dims(v)
    return "%d" % a if a == b else "(%d, %d)" % (a, b)


def _same_or_pair(a, b):
    return a if a == b else (a, b)


def _window_out(n, k, s, p, d=1):
    """A window's output size along a dim of n: kernel k, stride s, padding p (each side),
    dilation d; below 1 where the padded dim is shorter than the window."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _axes_text(axes):
    """Reduction axes as a model writes them: one int, or a tuple."""
    return "%d" % axes[0] if len(axes) == 1 else "(%s)" % ", ".join("%d" % i for i in axes)


# The reductions the DSL has, as PyTorch computes them (max's gradient split among ties).
_REDUCE = {"sum": torch.sum, "mean": torch.mean, "max": KINKS.amax}


class Value:
    """A live value: its name in the model and its shape (dim 0 is the batch)."""

    def __init__(self, name, shape, dtype="f32"):
        self.name, self.shape, self.dtype = name, list(shape), dtype
        self.uses = 0
        self.deps = {name}  # the model inputs it is computed from (an input: itself)

    @property
    def rank(self):
        return len(self.shape)


class Model:
    def __init__(self, seed, max_ops=12):
        self.rng = random.Random(seed)
        self.seed = seed
        self.lines = []          # statements of the model body
        self.inputs_decl = []    # (name, dtype, shape) with dim 0 the batch
        self.steps = []          # (result name, fn(env) -> tensor), in order
        self.modules = torch.nn.ModuleDict()
        self.pool = []           # live f32 values
        self.ids = None          # the ids input (i64 or i32), if any
        self.outputs = []        # (output name, value name)
        self.counter = 0
        self.force = None        # the operand the next _pick returns (if it qualifies)
        self.reads = {}          # value name -> the names its statement reads
        self.fns = {}            # fn name -> its declaration (emitted before the body)
        self.kept_by = {}        # module name -> the value whose statements name it implicitly
        # Every fourth seed draws its sizes wider: sequences of 8-40 steps, 32-96 features,
        # 24-48 channels, dense layers of up to 96 units, 8 heads, 32 hidden units. The
        # kernels' vector loops over steps, keys and features, their row blocks and the
        # LSTM's 16-unit recurrence get whole blocks, which the narrow draws (7 steps, 16
        # features) reach only as their tails.
        self.wide = seed % 4 == 3
        torch.manual_seed(seed)
        self._make_inputs()
        for _ in range(self.rng.randint(3, max_ops)):
            self._grow()
        self._finish()

    # ---- building blocks -------------------------------------------------------------

    def _fresh(self, prefix="v"):
        self.counter += 1
        return "%s%d" % (prefix, self.counter)

    def _bind(self, expr, shape, fn, statements=None):
        """A new value `name = expr`, or the statements statements(name) return (a repeat
        that rebinds it), which read the values named in expr."""
        name = self._fresh()
        self.lines.append(statements(name) if statements else "%s = %s" % (name, expr))
        v = Value(name, shape)
        known = {p.name: p for p in self.pool}
        if self.ids is not None:
            known["ids"] = self.ids
        words = expr.replace("(", " ").replace(")", " ").replace(",", " ").split()
        v.deps = set().union(*[known[w].deps for w in words if w in known])
        self.reads[name] = {w for w in words if w in known}
        self.pool.append(v)
        self.steps.append((name, fn))
        return v

    def _layer(self, module):
        name = "p%d" % len(self.modules)
        self.modules[name] = module
        return name

    def _pick(self, cond=lambda v: True):
        """The newest value most of the time, an older one otherwise (long live ranges)."""
        if self.force is not None and cond(self.force):
            v, self.force = self.force, None
            v.uses += 1
            return v
        cands = [v for v in self.pool if cond(v)]
        if not cands:
            return None
        u = self.rng.random()
        if u < 0.5 and cond(self.pool[-1]):
            v = self.pool[-1]
        elif u < 0.75:
            v = self.rng.choice(cands[-4:])
        else:
            v = self.rng.choice(cands)
        v.uses += 1
        return v

    def _make_inputs(self):
        r = self.rng
        kinds = r.sample(["img", "seq", "vec", "ids"], r.randint(1, 3))
        if "ids" in kinds and len(kinds) == 1:
            kinds.append("seq")
        for k in kinds:
            if k == "img":
                # Now and then 16x16 or 20x20: a 3x3 convolution of 16+ channels there has
                # the 4x4 tiles, at batch 2 and more, for Winograd's F(4x4, 3x3) (32 tiles or
                # more), and 16 channels are whole blocks of the blocked layout.
                h, w = [r.choice([16, 20])] * 2 if r.random() < 0.2 else [r.randint(4, 11), r.randint(4, 11)]
                shape = ["B", r.choice([1, 3, 4, 5, 8, 16, 16] + ([24, 32, 48] if self.wide else [])), h, w]
            elif k == "seq":
                shape = ["B", r.randint(8, 40) if self.wide else r.randint(1, 7),
                         r.choice([32, 48, 64, 96] if self.wide else [4, 6, 8, 12, 16])]
            elif k == "vec":
                shape = ["B", r.choice([3, 8, 12, 16, 24, 36] + ([64, 96] if self.wide else []))]
            else:
                self.ids_len = r.randint(8, 40) if self.wide else r.randint(1, 7)
                self.ids_num = r.randint(3, 20)
                dtype = "i32" if r.random() < 0.3 else "i64"  # embedding reads either, as nn.Embedding
                self.inputs_decl.append(("ids", dtype, ["B", self.ids_len]))
                self.ids = Value("ids", ["B", self.ids_len], dtype)
                continue
            self.inputs_decl.append((k, "f32", shape))
            self.pool.append(Value(k, shape))

    # ---- the ops ---------------------------------------------------------------------

    def _grow(self):
        r = self.rng
        options = [self._unary, self._unary, self._binary, self._binary, self._dense, self._softmax,
                   self._layer_norm, self._reduce, self._shape_op, self._concat, self._batch_norm,
                   self._chain_then_reuse, self._chain_then_reuse, self._chain_then_reuse, self._chain_then_reuse,
                   self._across_batch]
        if any(v.rank == 4 for v in self.pool):
            options += [self._conv2d, self._conv2d, self._pool, self._conv_transpose, self._winograd, self._winograd,
                        self._first_layer, self._first_layer]
        if any(v.rank == 3 for v in self.pool):
            options += [self._recurrent, self._attention, self._conv1d, self._matmul]
        if any(v.rank == 2 for v in self.pool):
            options += [self._to_image, self._to_sequence]
        if self.ids is not None:
            options += [self._embedding]
        options += [self._plugin_layer, self._fn_calls, self._repeat_layers]
        for _ in range(20):  # an op whose preconditions fail returns False: draw again
            if r.choice(options)():
                return

    def _unary(self):
        r = self.rng
        x = self._pick()
        kinds = [
            ("relu(%s)", KINKS.relu), ("sigmoid(%s)", torch.sigmoid), ("tanh(%s)", torch.tanh),
            ("gelu(%s)", gelu), ('gelu(%s, approximate = "tanh")', lambda t: gelu(t, approximate="tanh")),
            ("silu(%s)", F.silu), ("leaky_relu(%s, alpha = 0.2)", lambda t: KINKS.leaky_relu(t, 0.2)),
            ("abs(%s)", KINKS.abs), ("exp(-abs(%s))", lambda t: torch.exp(-KINKS.abs(t))),
            ("log(abs(%s) + 1)", lambda t: torch.log(KINKS.abs(t) + 1)),
            ("sqrt(abs(%s) + 0.5)", lambda t: torch.sqrt(KINKS.abs(t) + 0.5)),
            ("pow(abs(%s) + 0.5, 1.5)", lambda t: torch.pow(KINKS.abs(t) + 0.5, 1.5)),
            ("-%s", lambda t: -t), ("%s * 2.0", lambda t: t * 2.0), ("0.5 + %s", lambda t: 0.5 + t),
            ("%s / 3", lambda t: t / 3), ("dropout(%s, 0.3)", lambda t: t),
        ]
        if x.name in [n for n, _, _ in self.inputs_decl]:
            # Truncation to an integer type and back, on exact values only: a computed
            # value one ulp off an integer would round the other way.
            kinds.append(("cast(cast(%s * 4, i32), f32)", lambda t: (t * 4).to(torch.int32).to(t.dtype)))
        expr, fn = r.choice(kinds)
        n = x.name
        return self._bind(expr % n, x.shape, lambda env: fn(env[n]))

    def _binary(self):
        r = self.rng
        a = self._pick()
        same = [v for v in self.pool if v.shape == a.shape and v is not a]
        b = None
        if same and r.random() < 0.7:
            b = r.choice(same)
            b.uses += 1
            bn = b.name
            bshape_expr = bn
            bfn = lambda env: env[bn]
        elif a.rank >= 2 and r.random() < 0.25:
            # A reduction of a over every dim, the batch's too (the axis omitted): a scalar,
            # broadcast back; max's gradient split among ties, as amax's.
            red = r.choice(["mean", "max", "sum"])
            bshape_expr = "%s(%s)" % (red, a.name)
            an = a.name
            bfn = lambda env: {"mean": torch.mean, "max": lambda t: KINKS.amax(t, ()), "sum": torch.sum}[red](env[an])
        elif a.rank >= 2 and r.random() < 0.3:
            # NumPy's broadcasting across ranks: a reduced over its leading axes (the
            # batch's among them) without keepdims, aligned with a's trailing dims; or, from
            # rank 3, two keepdims reductions along different axes whose product broadcasts
            # each to a's shape.
            an = a.name
            if a.rank >= 3 and r.random() < 0.4:
                bshape_expr = "mean(%s, axis = 1, keepdims = true) * max(%s, axis = -1, keepdims = true)" % (an, an)
                bfn = lambda env: torch.mean(env[an], 1, keepdim=True) * KINKS.amax(env[an], -1, keepdim=True)
            else:
                axes = tuple(range(r.randint(1, a.rank - 1)))
                red = r.choice(["mean", "sum", "max"])
                bshape_expr = "%s(%s, axis = %s)" % (red, an, _axes_text(axes))
                bfn = lambda env: _REDUCE[red](env[an], axes)
        elif a.rank >= 2:
            # A reduction of a itself with keepdims: broadcasting back over inner axes, or
            # over the batch (axis 0).
            axis = r.randrange(a.rank)
            bshape_expr = "mean(%s, axis = %d, keepdims = true)" % (a.name, axis)
            an = a.name
            bfn = lambda env: torch.mean(env[an], axis, keepdim=True)
        else:
            return False
        an = a.name
        op = r.choice(["+", "-", "*", "/", "pow"])
        if op == "pow":
            # A tensor exponent, bounded so that the powers stay finite.
            expr = "pow(abs(%s) + 0.5, tanh(%s))" % (an, bshape_expr)
            fn = lambda env: torch.pow(KINKS.abs(env[an]) + 0.5, torch.tanh(bfn(env)))
        elif op == "/":
            expr = "%s / (abs(%s) + 1)" % (an, bshape_expr)
            fn = lambda env: env[an] / (KINKS.abs(bfn(env)) + 1)
        elif b is None and r.random() < 0.4:
            # The broadcast operand on the left.
            expr = "%s %s %s" % (bshape_expr, op, an)
            fn = {"+": lambda env: bfn(env) + env[an], "-": lambda env: bfn(env) - env[an],
                  "*": lambda env: bfn(env) * env[an]}[op]
        else:
            expr = "%s %s %s" % (an, op, bshape_expr)
            fn = {"+": lambda env: env[an] + bfn(env), "-": lambda env: env[an] - bfn(env),
                  "*": lambda env: env[an] * bfn(env)}[op]
        return self._bind(expr, a.shape, fn)

    def _chain_then_reuse(self):
        """A value read by a chain that starts with a kernel (softmax, a normalisation) and
        goes on through elementwise ops of its shape, then read again by another kernel:
        the shape of the aliasing report (e = x * 2; softmax, sigmoid, softmax of e; then
        dense(e)), where a buffer still to be read must not be reused by the chain."""
        r = self.rng
        x = self._pick(lambda v: v.rank >= 2)
        if r.random() < 0.7:
            self.force = x
            self._unary()  # e computed by generated code, not by a kernel
            x = self.pool[-1]
        e = x
        self.force = e
        r.choice([self._softmax, self._layer_norm, self._batch_norm])()
        for _ in range(r.randint(1, 3)):
            self.force = self.pool[-1]
            r.choice([self._unary, self._unary, self._softmax, self._layer_norm])()
        readers = [self._dense, self._dense, self._softmax, self._layer_norm]
        if e.rank == 3:
            readers += [self._recurrent, self._attention, self._matmul]
        if e.rank == 4:
            readers += [self._conv2d, self._pool]
        for _ in range(20):
            self.force = e  # e is read once more, by a kernel
            if r.choice(readers)():
                break
        self.force = None
        return True

    def _fn_calls(self):
        """A `fn` of a few shape-keeping layers (dense, layer_norm, activations, a residual),
        called 2-5 times in a row: each call has parameters of its own (FN.K.qN), and dlc
        compiles the calls as one function (dl-share-fn-bodies)."""
        r = self.rng
        # Their dense layers are d x d: at most 1024 features (a flattened image can have
        # 25,088, a 2.5 GB weight; seed 203003).
        x = self._pick(lambda v: 2 <= v.rank <= 3 and v.shape[-1] <= 1024)
        if x is None:
            return False
        d = x.shape[-1]
        fname = "f%d" % len(self.fns)
        calls = r.randint(2, 5)
        body, recipe, prev, layers = [], [], "h", 0
        for k in range(r.randint(1, 4)):
            kind = r.choice(["dense", "dense", "layer_norm", "act", "residual"])
            out = "a%d" % k
            if kind == "dense":
                act = r.choice(["", " |> relu", " |> tanh", " |> gelu"])
                body.append('%s = dense(%s, %d, name = "q%d")%s' % (out, prev, d, layers, act))
                recipe.append(("dense", "q%d" % layers, act, prev))
                layers += 1
            elif kind == "layer_norm":
                body.append('%s = layer_norm(%s, name = "q%d")' % (out, prev, layers))
                recipe.append(("layer_norm", "q%d" % layers, None, prev))
                layers += 1
            elif kind == "act":
                act = r.choice(["relu", "tanh", "sigmoid"])
                body.append("%s = %s(%s)" % (out, act, prev))
                recipe.append(("act", act, None, prev))
            else:
                body.append("%s = %s + h" % (out, prev))
                recipe.append(("residual", None, None, prev))
            prev = out
        self.fns[fname] = "fn %s(h) {\n    %s\n    return %s\n  }" % (fname, "\n    ".join(body), prev)
        per_call = torch.nn.ModuleDict()
        for c in range(calls):
            mods = torch.nn.ModuleDict()
            for kind, q, _, _ in recipe:
                if kind == "dense":
                    mods[q] = torch.nn.Linear(d, d)
                elif kind == "layer_norm":
                    ln = torch.nn.LayerNorm(d)
                    with torch.no_grad():
                        ln.weight.uniform_(0.5, 1.5)
                        ln.bias.uniform_(-0.5, 0.5)
                    mods[q] = ln
            per_call[str(c)] = mods
        self.modules[fname] = per_call
        acts = {"": lambda t: t, " |> relu": KINKS.relu, " |> tanh": torch.tanh, " |> gelu": gelu,
                "relu": KINKS.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}

        def run(env, xn=x.name):
            h = env[xn]
            for c in range(calls):
                mods, vals = self.modules[fname][str(c)], {"h": h}
                for k, (kind, q, act, src) in enumerate(recipe):
                    t = vals[src]
                    if kind == "dense":
                        t = acts[act](mods[q](t))
                    elif kind == "layer_norm":
                        t = mods[q](t)
                    elif kind == "act":
                        t = acts[q](t)
                    else:
                        t = t + h
                    vals["a%d" % k] = t
                h = vals[prev]
            return h

        if r.random() < 0.5:
            expr = x.name
            for _ in range(calls):
                expr = "%s(%s)" % (fname, expr)
            return self._bind(expr, x.shape, run)
        # The same calls as a repeat (its count a const): each unrolled iteration is the
        # next call, FN.K. counting on across them.
        count = self._fresh("K")
        return self._bind("%s %s" % (fname, x.name), x.shape, run, lambda v: "const %s = %d\n  %s = %s\n  repeat %s { %s = %s(%s) }" % (
            count, calls, v, x.name, count, v, fname, v))

    def _repeat_layers(self):
        """`repeat K { v = dense(v, d) |> act; v = layer_norm(v) }` without a fn: the body's
        layers take their names from the value they are bound to, numbered in unrolled order
        (v, v_1, v_2, ...: DSL.md's naming rule 2)."""
        r = self.rng
        # Their dense layers are d x d: at most 1024 features (a flattened image can have
        # 25,088, a 2.5 GB weight; seed 203003).
        x = self._pick(lambda v: 2 <= v.rank <= 3 and v.shape[-1] <= 1024)
        if x is None:
            return False
        d, times = x.shape[-1], r.randint(1, 3)
        act = r.choice(["", " |> relu", " |> tanh"])
        with_norm = r.random() < 0.5
        name = "v%d" % (self.counter + 1)  # the value _bind names next
        mods = []
        for k in range(times * (2 if with_norm else 1)):
            layer = name if not mods else "%s_%d" % (name, len(mods))
            if with_norm and k % 2 == 1:
                m = torch.nn.LayerNorm(d)
                with torch.no_grad():
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
            else:
                m = torch.nn.Linear(d, d)
            self.modules[layer] = m
            self.kept_by[layer] = name
            mods.append(layer)
        actfn = {"": lambda t: t, " |> relu": KINKS.relu, " |> tanh": torch.tanh}[act]

        def run(env, xn=x.name):
            h = env[xn]
            for layer in mods:
                m = self.modules[layer]
                h = m(h) if isinstance(m, torch.nn.LayerNorm) else actfn(m(h))
            return h

        def statements(v):
            assert v == name
            body = "%s = dense(%s, %d)%s" % (v, v, d, act)
            if with_norm:
                body += "; %s = layer_norm(%s)" % (v, v)
            return "%s = %s\n  repeat %d { %s }" % (v, x.name, times, body)

        return self._bind(x.name, x.shape, run, statements)

    def _dense(self):
        r = self.rng
        x = self._pick(lambda v: v.rank >= 2 and v.rank <= 4)
        units = r.choice([1, 3, 5, 8, 10, 16, 33] + ([48, 64, 96] if self.wide else []))
        bias = r.random() < 0.8
        act = r.choice(["", "", " |> relu", " |> gelu", " |> sigmoid", " |> tanh", " |> silu"])
        lin = torch.nn.Linear(x.shape[-1], units, bias=bias)
        name = self._layer(lin)
        actfn = {"": lambda t: t, " |> relu": KINKS.relu, " |> gelu": gelu, " |> sigmoid": torch.sigmoid,
                 " |> tanh": torch.tanh, " |> silu": F.silu}[act]
        xn = x.name
        expr = 'dense(%s, %d%s, name = "%s")%s' % (xn, units, "" if bias else ", bias = false", name, act)
        return self._bind(expr, x.shape[:-1] + [units], lambda env: actfn(self.modules[name](env[xn])))

    def _softmax(self):
        r = self.rng
        x = self._pick(lambda v: v.rank >= 2)
        axis = r.choice(list(range(1, x.rank)) + [-1])
        log = r.random() < 0.3
        xn = x.name
        op = "log_softmax" if log else "softmax"
        f = torch.log_softmax if log else torch.softmax
        expr = "%s(%s)" % (op, xn) if axis == -1 and r.random() < 0.5 else "%s(%s, axis = %d)" % (op, xn, axis)
        return self._bind(expr, x.shape, lambda env: f(env[xn], axis))

    def _across_batch(self):
        """An op that reads across the batch (the compiler must not split the batch where one
        does): softmax over axis 0, directly or through transposes that move the batch
        inward and back; a dense layer between such transposes; x less the max over the
        batch; x less the mean over x and another value concatenated along the batch."""
        r = self.rng
        x = self._pick(lambda v: v.rank >= 2)
        xn, rank = x.name, x.rank
        kind = r.choice(["softmax", "swapped softmax", "swapped dense", "max", "concat"])
        if kind == "softmax":
            return self._bind("softmax(%s, axis = 0)" % xn, x.shape, lambda env: torch.softmax(env[xn], 0))
        k = r.randrange(1, rank)
        perm = list(range(rank))
        perm[0], perm[k] = k, 0
        ptxt = "(%s)" % ", ".join(map(str, perm))
        if kind == "swapped softmax":
            log = r.random() < 0.3
            op, f = ("log_softmax", torch.log_softmax) if log else ("softmax", torch.softmax)
            return self._bind("transpose(%s(transpose(%s, %s), axis = %d), %s)" % (op, xn, ptxt, k, ptxt), x.shape,
                              lambda env: f(env[xn], 0))
        if kind == "swapped dense":
            if rank < 3 or k == rank - 1:
                return False
            units = r.choice([3, 5, 8])
            name = self._layer(torch.nn.Linear(x.shape[-1], units))
            expr = 'transpose(dense(transpose(%s, %s), %d, name = "%s"), %s)' % (xn, ptxt, units, name, ptxt)
            return self._bind(expr, x.shape[:-1] + [units], lambda env: self.modules[name](env[xn]))
        if kind == "max":
            # amax's gradient, split among ties, as the DSL's max.
            return self._bind("%s - max(%s, axis = 0, keepdims = true)" % (xn, xn), x.shape,
                              lambda env: env[xn] - KINKS.amax(env[xn], 0, keepdim=True))
        others = [v for v in self.pool if v.shape == x.shape]
        y = r.choice(others)
        y.uses += 1
        yn = y.name
        return self._bind("%s - mean(concat((%s, %s), 0), axis = 0, keepdims = true)" % (xn, xn, yn), x.shape,
                          lambda env: env[xn] - torch.cat([env[xn], env[yn]], 0).mean(0, keepdim=True))

    def _layer_norm(self):
        x = self._pick(lambda v: v.rank >= 2)
        ln = torch.nn.LayerNorm(x.shape[-1])
        with torch.no_grad():
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.5, 0.5)
        name = self._layer(ln)
        xn = x.name
        return self._bind('layer_norm(%s, name = "%s")' % (xn, name), x.shape,
                          lambda env: self.modules[name](env[xn]))

    def _plugin_layer(self):
        """A layer of a shipped plugin: rms_norm (a run-time kernel) or mish (a linalg
        lowering). run.py loads both plugins."""
        r = self.rng
        x = self._pick(lambda v: v.rank >= 2)
        xn = x.name
        if r.random() < 0.5:
            return self._bind("mish(%s)" % xn, x.shape, lambda env: env[xn] * torch.tanh(F.softplus(env[xn])))
        eps = r.choice([1e-6, 1e-5, 0.1])
        rms = RMSNorm(x.shape[-1], eps)
        with torch.no_grad():
            rms.weight.uniform_(0.5, 1.5)
        name = self._layer(rms)
        return self._bind('rms_norm(%s, eps = %g, name = "%s")' % (xn, eps, name), x.shape,
                          lambda env: self.modules[name](env[xn]))

    def _batch_norm(self):
        r = self.rng
        x = self._pick(lambda v: 2 <= v.rank <= 4)
        c = x.shape[1]
        # Now and then another momentum (the running statistics' update in a train step)
        # or eps than the defaults.
        momentum = r.choice([0.01, 0.5, 1.0]) if r.random() < 0.3 else 0.1
        eps = r.choice([1e-3, 0.1]) if r.random() < 0.3 else 1e-5
        bn = (torch.nn.BatchNorm1d if x.rank <= 3 else torch.nn.BatchNorm2d)(c, eps=eps, momentum=momentum)
        with torch.no_grad():
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
        bn.eval()
        name = self._layer(bn)
        xn = x.name
        attrs = ("momentum = %g, " % momentum if momentum != 0.1 else "") + ("eps = %g, " % eps if eps != 1e-5 else "")
        return self._bind('batch_norm(%s, %sname = "%s")' % (xn, attrs, name), x.shape,
                          lambda env: self.modules[name](env[xn]))

    def _reduce(self):
        r = self.rng
        x = self._pick(lambda v: v.rank >= 3)
        if x is None:
            return False
        k = r.randint(1, x.rank - 2)
        axes = sorted(r.sample(range(1, x.rank), k))
        keep = r.random() < 0.3
        op = r.choice(["sum", "mean", "max"])
        xn = x.name
        shape = [d if i not in axes else 1 for i, d in enumerate(x.shape)] if keep else \
            [d for i, d in enumerate(x.shape) if i not in axes]
        expr = "%s(%s, axis = %s%s)" % (op, xn, _axes_text(axes), ", keepdims = true" if keep else "")
        return self._bind(expr, shape, lambda env: _REDUCE[op](env[xn], axes, keepdim=keep))

    def _shape_op(self):
        r = self.rng
        x = self._pick(lambda v: v.rank >= 2)
        xn = x.name
        kind = r.choice(["flatten", "transpose", "slice", "reshape"])
        if kind == "flatten" and x.rank >= 3:
            return self._bind("flatten(%s)" % xn, ["B", math.prod(x.shape[1:])], lambda env: torch.flatten(env[xn], 1))
        if kind == "transpose" and x.rank >= 3:
            inner = list(range(1, x.rank))
            while inner == list(range(1, x.rank)):
                r.shuffle(inner)
            perm = [0] + inner
            return self._bind("transpose(%s, (%s))" % (xn, ", ".join(map(str, perm))), [x.shape[p] for p in perm],
                              lambda env: env[xn].permute(*perm))
        if kind == "slice":
            axis = r.randrange(1, x.rank)
            n = x.shape[axis]
            # Python's slicing, as DSL.md has it: negative bounds count from the end,
            # out-of-range ones clamp.
            start = r.randint(-n - 1, n - 1)
            end = r.choice([r.randint(-n, n), n, 100])
            length = len(range(n)[start:end])
            if length == 0:
                return False
            sl = [slice(None)] * x.rank
            sl[axis] = slice(start, end)
            shape = list(x.shape)
            shape[axis] = length
            return self._bind("slice(%s, %d, %d, %d)" % (xn, axis, start, end), shape, lambda env: env[xn][tuple(sl)])
        if kind == "reshape":
            total = math.prod(x.shape[1:])
            divs = [d for d in range(1, total + 1) if total % d == 0]
            a = r.choice(divs)
            shape = ["B", a, total // a]
            return self._bind("reshape(%s, (-1, %d, %d))" % (xn, a, total // a), shape,
                              lambda env: env[xn].reshape(-1, a, total // a))
        return False

    def _concat(self):
        r = self.rng
        a = self._pick(lambda v: v.rank >= 2)
        axis = r.randrange(1, a.rank)
        cands = [v for v in self.pool if v.rank == a.rank and
                 all(v.shape[i] == a.shape[i] for i in range(a.rank) if i != axis)]
        parts = [a] + [r.choice(cands) for _ in range(r.randint(1, 2))]
        for p in parts[1:]:
            p.uses += 1
        names = [p.name for p in parts]
        shape = list(a.shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        ax = axis - a.rank if r.random() < 0.3 else axis
        return self._bind("concat((%s), %d)" % (", ".join(names), ax), shape,
                          lambda env: torch.cat([env[n] for n in names], axis))

    def _conv2d(self, filters=None, kernel=None, stride=None, winograd=False, pick=lambda v: True, act=None):
        r = self.rng
        x = self._pick(lambda v: v.rank == 4 and (not winograd or v.shape[1] >= 64) and pick(v))
        if x is None:
            return False
        c, h, w = x.shape[1:]
        filters = filters or r.choice([1, 3, 4, 6, 8, 16, 17, 32])
        groups = 1 if winograd else self._groups(c, filters)
        if kernel is None and stride is None and r.random() < 0.2:
            # Now and then a rectangle: kernel, stride, padding and dilation per dim, even
            # kernels among them ("same" pads their odd element at the end).
            kernel = (r.choice([1, 2, 3, 5]), r.choice([1, 2, 3]))
            stride = (r.choice([1, 2]), r.choice([1, 1, 2]))
            dilation = tuple(2 if k > 1 and r.random() < 0.25 else 1 for k in kernel)
            padding = tuple(r.randint(0, k // 2) for k in kernel)
            if stride == (1, 1) and r.random() < 0.3:
                padding = "same"
        else:
            kernel = kernel or r.choice([1, 3, 3, 5])
            stride = stride or r.choice([1, 1, 2])
            dilation = 2 if (not winograd and kernel == 3 and r.random() < 0.15) else 1
            padding = "same" if stride == 1 and r.random() < 0.3 else r.randint(0, kernel // 2)
        (kh, kw), (sh, sw), (dh, dw) = _dims(kernel), _dims(stride), _dims(dilation)
        if padding == "same":
            oh, ow = h, w
        else:
            (ph, pw) = _dims(padding)
            oh, ow = _window_out(h, kh, sh, ph, dh), _window_out(w, kw, sw, pw, dw)
            if oh < 1 or ow < 1:
                return False
        bias = r.random() < 0.8
        conv = torch.nn.Conv2d(c, filters, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                               bias=bias)
        name = self._layer(conv)
        attrs = self._conv_attrs(filters, kernel, stride, padding, dilation, groups, bias)
        act = r.choice(["", "", " |> relu", " |> silu"]) if act is None else act
        actfn = {"": lambda t: t, " |> relu": KINKS.relu, " |> silu": F.silu}[act]
        xn = x.name
        expr = 'conv2d(%s, %s, name = "%s")%s' % (xn, attrs, name, act)
        v = self._bind(expr, ["B", filters, oh, ow], lambda env: actfn(self.modules[name](env[xn])))
        # A residual: the convolution plus an earlier value of its shape (ResNet's add,
        # which the compiler fuses into the convolution when the skip is dead after it).
        skips = [s for s in self.pool if s.shape == v.shape and s is not v]
        if skips and r.random() < 0.5:
            s = r.choice(skips)
            s.uses += 1
            vn, sn = v.name, s.name
            self._bind("%s + %s" % (vn, sn) if r.random() < 0.5 else "%s + %s" % (sn, vn), v.shape,
                       lambda env: env[vn] + env[sn])
        return True

    def _winograd(self):
        """3x3 stride-1 convolutions of 64+ channels, from a value widened to 64 channels first
        when none is that wide yet. The runtime runs them by Winograd (its own, or oneDNN's)
        where channels in and out are whole blocks of the blocked layout and the activation
        is none or relu, so most draws are those; 65 and 72 channels and silu take the
        direct path beside them."""
        r = self.rng
        wide = lambda v: v.rank == 4 and v.shape[1] >= 64
        if not any(wide(v) for v in self.pool):
            if not self._conv2d(filters=r.choice([64, 64, 72, 80]), kernel=3, stride=1):
                return False
        act = r.choice(["", "", " |> relu", " |> relu", " |> silu"])
        return self._conv2d(filters=r.choice([64, 64, 80, 96, 128, 65, 72]), kernel=3, stride=1, winograd=True,
                            act=act)

    def _first_layer(self):
        """A first layer: a convolution of few channels (an image's) into whole vectors of
        8, relu or not, then max pooling, which the runtime runs as one pass in inference."""
        r = self.rng
        few = lambda v: v.rank == 4 and v.shape[1] <= 4
        if not any(few(v) for v in self.pool):
            return False
        if not self._conv2d(filters=r.choice([8, 16, 24, 32, 64]), pick=few):
            return False
        self.force = self.pool[-1]
        return self._pool(kind="max")

    def _pool(self, kind=None):
        r = self.rng
        x = self._pick(lambda v: v.rank == 4)
        h, w = x.shape[2:]
        xn = x.name
        kind = kind or r.choice(["max", "avg", "global"])
        if kind == "global":
            return self._bind("global_avg_pool2d(%s)" % xn, x.shape[:2], lambda env: env[xn].mean((2, 3)))
        if r.random() < 0.2:  # a rectangle: kernel, stride and padding per dim
            k = (r.choice([1, 2, 3]), r.choice([2, 3]))
            s = tuple(r.choice([1, 2, kk]) for kk in k)
            p = tuple(r.randint(0, kk // 2) for kk in k)
        else:
            k = r.choice([2, 3])
            s = r.choice([1, 2, k])
            p = r.randint(0, k // 2)
        (kh, kw), (sh, sw), (ph, pw) = _dims(k), _dims(s), _dims(p)
        oh, ow = _window_out(h, kh, sh, ph), _window_out(w, kw, sw, pw)
        if oh < 1 or ow < 1:
            return False
        attrs = (_pair_text(k) + (", stride = %s" % _pair_text(s) if _dims(s) != _dims(k) else "") +
                 (", padding = %s" % _pair_text(p) if _dims(p) != (0, 0) else ""))
        if kind == "max":
            fn = lambda env: KINKS.max_pool2d(env[xn], k, s, p)
        else:
            fn = lambda env: F.avg_pool2d(env[xn], k, s, p)
        return self._bind("%s_pool2d(%s, %s)" % (kind, xn, attrs), ["B", x.shape[1], oh, ow], fn)

    @staticmethod
    def _conv_attrs(filters, kernel, stride, padding, dilation, groups, bias):
        """A convolution's attributes as a model writes them, the defaults left out; kernel,
        stride, padding and dilation an int or a pair (H, W), written as one int where both
        are the same."""
        attrs = ["%d" % filters, _pair_text(kernel)]
        if _dims(stride) != (1, 1): attrs.append("stride = %s" % _pair_text(stride))
        if padding == "same": attrs.append('padding = "same"')
        elif _dims(padding) != (0, 0): attrs.append("padding = %s" % _pair_text(padding))
        if _dims(dilation) != (1, 1): attrs.append("dilation = %s" % _pair_text(dilation))
        if groups != 1: attrs.append("groups = %d" % groups)
        if not bias: attrs.append("bias = false")
        return ", ".join(attrs)

    def _groups(self, c, filters, chance=0.2):
        """A group count that divides both channel counts, now and then; else 1."""
        r = self.rng
        if r.random() >= chance:
            return 1
        common = [g for g in (2, 3, 4) if c % g == 0 and filters % g == 0]
        return r.choice(common) if common else 1

    def _conv_transpose(self):
        r = self.rng
        x = self._pick(lambda v: v.rank == 4 and v.shape[2] <= 8 and v.shape[3] <= 8)
        if x is None:
            return False
        c, h, w = x.shape[1:]
        filters = r.choice([2, 3, 4, 8])
        groups = self._groups(c, filters, chance=0.4)  # its inputs' channels are often 1 or 3
        # Per dim (H, W), the same for both but now and then: kernel, stride, dilation,
        # padding, and an output_padding below the stride or the dilation (PyTorch's rule).
        def draw():
            k, s = r.choice([2, 3]), r.choice([1, 2])
            dil = 2 if r.random() < 0.15 else 1
            return k, s, dil, r.randint(0, k - 1), r.randint(0, max(s, dil) - 1)
        along_h = draw()
        along_w = draw() if r.random() < 0.25 else along_h
        k, s, dil, p, op_ = (_same_or_pair(a, b) for a, b in zip(along_h, along_w))
        oh, ow = ((n - 1) * s_ - 2 * p_ + d_ * (k_ - 1) + o_ + 1
                  for n, (k_, s_, d_, p_, o_) in ((h, along_h), (w, along_w)))
        if oh < 1 or ow < 1:
            return False
        bias = r.random() < 0.8
        mod = torch.nn.ConvTranspose2d(c, filters, k, stride=s, padding=p, output_padding=op_, groups=groups,
                                       dilation=dil, bias=bias)
        name = self._layer(mod)
        xn = x.name
        attrs = self._conv_attrs(filters, k, s, p, dil, groups, bias) + (
            ", output_padding = %s" % _pair_text(op_) if _dims(op_) != (0, 0) else "")
        expr = 'conv_transpose2d(%s, %s, name = "%s")' % (xn, attrs, name)
        return self._bind(expr, ["B", filters, oh, ow], lambda env: self.modules[name](env[xn]))

    def _conv1d(self):
        r = self.rng
        x = self._pick(lambda v: v.rank == 3)
        c, l = x.shape[1:]
        k = r.choice([1, 2, 3, 3, 5])
        s = r.choice([1, 1, 2])
        dil = 2 if k > 1 and r.random() < 0.2 else 1
        filters = r.choice([2, 4, 7, 8])
        groups = self._groups(c, filters)
        if s == 1 and r.random() < 0.25:
            # "same" pads dil * (k - 1) in all, the odd element at the end (k even).
            p, out = "same", l
        else:
            p = r.randint(0, k // 2)
            out = _window_out(l, k, s, p, dil)
        if out < 1:
            return False
        bias = r.random() < 0.8
        mod = torch.nn.Conv1d(c, filters, k, stride=s, padding=p, dilation=dil, groups=groups, bias=bias)
        name = self._layer(mod)
        xn = x.name
        attrs = self._conv_attrs(filters, k, s, p, dil, groups, bias)
        return self._bind('conv1d(%s, %s, name = "%s")' % (xn, attrs, name), ["B", filters, out],
                          lambda env: self.modules[name](env[xn]))

    def _matmul(self):
        r = self.rng
        a = self._pick(lambda v: v.rank == 3)
        cands = [v for v in self.pool if v.rank == 3 and v.shape[2] == a.shape[2]]
        b = r.choice(cands)
        b.uses += 1
        an, bn = a.name, b.name
        t, t2, d = a.shape[1], b.shape[1], a.shape[2]
        kind = r.choice(["plain", "plain", "right", "left", "heads"])
        if kind == "heads" and d % 2 == 0:
            # Attention's products written out: each operand split into heads, [B, h, T, D/h]
            # against [B, h, D/h, T'], a batch of rank 4.
            h = r.choice([k for k in (2, 4) if d % k == 0])
            split = "transpose(reshape(%s, (-1, %d, %d, %d)), %s)"
            expr = "%s @ %s" % (split % (an, t, h, d // h, "(0, 2, 1, 3)"), split % (bn, t2, h, d // h, "(0, 2, 3, 1)"))
            return self._bind(expr, ["B", h, t, t2],
                              lambda env: env[an].reshape(-1, t, h, d // h).permute(0, 2, 1, 3) @
                              env[bn].reshape(-1, t2, h, d // h).permute(0, 2, 3, 1))
        if kind == "right":
            # matmul's function form, with a broadcast right operand: [B, T, D] x [D, T'].
            return self._bind("matmul(%s, transpose(mean(%s, axis = 0), (1, 0)))" % (an, bn), ["B", t, t2],
                              lambda env: torch.matmul(env[an], env[bn].mean(0).permute(1, 0)))
        if kind == "left":
            # A broadcast left operand: [T', D] x [B, D, T].
            return self._bind("max(%s, axis = 0) @ transpose(%s, (0, 2, 1))" % (bn, an), ["B", t2, t],
                              lambda env: KINKS.amax(env[bn], 0) @ env[an].permute(0, 2, 1))
        return self._bind("%s @ transpose(%s, (0, 2, 1))" % (an, bn), ["B", t, t2],
                          lambda env: env[an] @ env[bn].permute(0, 2, 1))

    def _recurrent(self):
        r = self.rng
        x = self._pick(lambda v: v.rank == 3)
        d = x.shape[2]
        hidden = r.choice([3, 5, 8, 16] + ([32, 32, 48] if self.wide else []))
        layers = r.choice([1, 1, 2])
        seqs = r.random() < 0.7
        gru = r.random() < 0.5
        mod = (torch.nn.GRU if gru else torch.nn.LSTM)(d, hidden, layers, batch_first=True)
        name = self._layer(mod)
        xn = x.name
        expr = '%s(%s, %d%s%s, name = "%s")' % ("gru" if gru else "lstm", xn, hidden,
                                               ", layers = %d" % layers if layers > 1 else "",
                                               "" if seqs else ", sequences = false", name)

        def fn(env):
            y = self.modules[name](env[xn])[0]
            return y if seqs else y[:, -1]

        return self._bind(expr, ["B", x.shape[1], hidden] if seqs else ["B", hidden], fn)

    def _attention(self):
        r = self.rng
        x = self._pick(lambda v: v.rank == 3 and v.shape[2] % 2 == 0)
        if x is None:
            return False
        d = x.shape[2]
        heads = r.choice([h for h in (1, 2, 4) + ((8,) if self.wide else ()) if d % h == 0])
        causal = r.random() < 0.5
        mod = torch.nn.MultiheadAttention(d, heads, batch_first=True)
        with torch.no_grad():
            mod.in_proj_bias.uniform_(-0.2, 0.2)
            mod.out_proj.bias.uniform_(-0.2, 0.2)
        name = self._layer(mod)
        xn = x.name

        def fn(env):
            t = env[xn]
            mask = None
            if causal:
                n = t.shape[1]
                mask = torch.triu(torch.full((n, n), float("-inf"), dtype=t.dtype), diagonal=1)
            return self.modules[name](t, t, t, attn_mask=mask, need_weights=False)[0]

        expr = 'attention(%s, heads = %d%s, name = "%s")' % (xn, heads, ", causal = true" if causal else "", name)
        return self._bind(expr, x.shape, fn)

    def _embedding(self):
        r = self.rng
        dim = r.choice([4, 6, 8, 16] + ([32, 64] if self.wide else []))
        self.ids.uses += 1
        if r.random() < 0.3:
            max_len = self.ids_len + r.randint(0, 3)
            mod = torch.nn.Embedding(max_len, dim)
            name = self._layer(mod)
            fn = lambda env: self.modules[name].weight[: env["ids"].shape[1]].unsqueeze(0).expand(
                env["ids"].shape[0], -1, -1)
            return self._bind('position_embedding(ids, %d, %d, name = "%s")' % (max_len, dim, name),
                              ["B", self.ids_len, dim], fn)
        mod = torch.nn.Embedding(self.ids_num, dim)
        name = self._layer(mod)
        return self._bind('embedding(ids, %d, %d, name = "%s")' % (self.ids_num, dim, name),
                          ["B", self.ids_len, dim], lambda env: self.modules[name](env["ids"]))

    def _to_image(self):
        """[B, F] -> [B, C, H, W]: a dense layer's features as an image for convolutions."""
        r = self.rng
        x = self._pick(lambda v: v.rank == 2)
        f = x.shape[1]
        for c in r.sample([1, 2, 3, 4, 6, 8], 6):
            rest = f // c
            if f % c == 0:
                hs = [hh for hh in range(2, rest + 1) if rest % hh == 0 and rest // hh >= 2]
                if hs:
                    hh = r.choice(hs)
                    shape = ["B", c, hh, rest // hh]
                    xn = x.name
                    return self._bind("reshape(%s, (-1, %d, %d, %d))" % (xn, c, hh, rest // hh), shape,
                                      lambda env: env[xn].reshape(-1, c, hh, rest // hh))
        return False

    def _to_sequence(self):
        r = self.rng
        x = self._pick(lambda v: v.rank == 2)
        f = x.shape[1]
        ts = [t for t in range(2, f + 1) if f % t == 0]
        if not ts:
            return False
        t = r.choice(ts)
        xn = x.name
        return self._bind("reshape(%s, (-1, %d, %d))" % (xn, t, f // t), ["B", t, f // t],
                          lambda env: env[xn].reshape(-1, t, f // t))

    # ---- outputs ---------------------------------------------------------------------

    def _finish(self):
        r = self.rng
        produced = [v for v in self.pool if v.name not in dict((n, 0) for n, _, _ in self.inputs_decl)]
        # Outputs: the last value and most values nothing reads (else their code would be
        # dead and test nothing), and now and then a value that is also read further on.
        chosen = [produced[-1]] if produced else []
        leaves = [v for v in produced[:-1] if v.uses == 0]
        r.shuffle(leaves)
        chosen += leaves[:6]
        inner = [v for v in produced[:-1] if v.uses > 0]
        chosen += r.sample(inner, min(len(inner), r.randint(0, 2)))
        # Every input must reach an output (DSL.md: an unused input is an error): an
        # output of the newest value computed from it, or of relu(input) where none is.
        for n, dtype, _ in self.inputs_decl:
            if any(n in v.deps for v in chosen):
                continue
            readers = [v for v in produced if n in v.deps]
            if readers:
                chosen.append(readers[-1])
                continue
            if dtype != "f32":
                self._embedding()
            else:
                v = next(p for p in self.pool if p.name == n)
                self._bind("relu(%s)" % n, v.shape, lambda env, n=n: KINKS.relu(env[n]))
            chosen.append(self.pool[-1])
        seen = set()
        for v in chosen:
            if v.name in seen:
                continue
            seen.add(v.name)
            self.outputs.append(("o_" + v.name, v.name))

    def restrict(self, outputs):
        """Keeps only `outputs` and the statements and inputs they are computed from: the
        reduced model of a failure in those outputs."""
        self.outputs = [(o, v) for o, v in self.outputs if o in outputs]
        needed, todo = set(), [v for _, v in self.outputs]
        while todo:
            n = todo.pop()
            if n in needed:
                continue
            needed.add(n)
            todo += list(self.reads.get(n, ()))
        keep = [i for i, (n, _) in enumerate(self.steps) if n in needed]
        self.lines = [self.lines[i] for i in keep]
        self.steps = [self.steps[i] for i in keep]
        self.inputs_decl = [d for d in self.inputs_decl if d[0] in needed]
        used = set()
        for line in self.lines:
            for word in line.replace('"', " ").replace("(", " ").replace(")", " ").replace(",", " ").split():
                used.add(word)
        for name in list(self.modules.keys()):
            if name not in used and self.kept_by.get(name) not in used:
                del self.modules[name]

    @property
    def source(self):
        head = ["model R%d {" % self.seed]
        for n, dtype, shape in self.inputs_decl:
            head.append("  input %s: %s[%s]" % (n, dtype, ", ".join(map(str, shape))))
        used = set(w for l in self.lines for w in l.replace("(", " ").replace(")", " ").split())
        head += ["  " + f for n, f in self.fns.items() if n in used]
        body = ["  " + l for l in self.lines]
        outs = ["  output %s = %s" % (o, v) for o, v in self.outputs]
        return "\n".join(head + body + outs + ["}"]) + "\n"

    def state_dict(self):
        return {k: v.detach().cpu().numpy() for k, v in self.modules.state_dict().items()}

    def inputs(self, batch, rng):
        out = {}
        for n, dtype, shape in self.inputs_decl:
            dims = [batch] + list(shape[1:])
            if dtype != "f32":
                out[n] = rng.randint(0, self.ids_num, size=dims).astype(np.int32 if dtype == "i32" else np.int64)
            else:
                out[n] = rng.randn(*dims).astype(np.float32)
        return out

    def reference(self, inputs, double=False, rounded=False):
        """Every output computed by PyTorch, in float32, or in float64 (parameters and float
        inputs widened) to show how much float32 rounding moves each output. `rounded`
        (with double): every value the model binds rounded to float32 as it is made, the
        ops themselves in float64: float32's rounding noise where float64 would cancel it
        exactly (a softmax's column summed is 1 there, in every column alike)."""
        env = {n: torch.from_numpy(a) for n, a in inputs.items()}
        modules = self.modules
        if double:
            env = {n: t.double() if t.is_floating_point() else t for n, t in env.items()}
            modules.double()
        modules.eval()
        try:
            with torch.no_grad():
                for name, fn in self.steps:
                    env[name] = fn(env)
                    if rounded and env[name].dtype == torch.float64:
                        env[name] = env[name].float().double()
        finally:
            modules.float()
        return {o: env[v].detach().numpy() for o, v in self.outputs}
