"""Kinks float32 does not decide, and the reference's gradients with them taken the other
way.

Where an op's gradient jumps (relu, leaky_relu and abs at 0; a max pooling window or a
`max` reduction where its two largest values meet) and its input lies closer to the jump
than float32 rounding moves it, float32 does not decide which side the gradient takes: an
implementation that rounds differently (dlc's Winograd convolutions, its summation orders)
may take the other. Forward, that changes the output by the distance to the kink, nothing;
backward, it moves a whole upstream gradient (drops it, or sends it to another element),
which no bound made of rounding covers. Seed 168504 capped at AVX2: two normalised values
7e-7 apart in one max-pooling window of a batch of 44; SGD's first update of the
convolution before it 5.4e-6 off PyTorch's in that channel, float64 PyTorch with that
window's maximum taken the other way within 5e-9 of dlc's. Seed 203925: a convolution's
output 4.5e-8 before its relu where float32 rounds that convolution to 2.4e-7; dlc's first
update of that layer 16% off PyTorch's in the element it feeds. The probes the difftest
moves inputs and weights by (one float32 ulp) move such values less than that and do not
flip them.

So the references of a train check run the model's kinks (`KINKS`) three ways: as PyTorch
computes them, recording each one's input (float32 and float64 runs); and where the
recordings show inputs near their kink (run.py's KINK: within a few times the largest
float32 error of that op's input, float32 run against float64), in float64 with each of
them taken on the other side (a relu's gradient 0 for 1, a window's maximum by its
runner-up), a run each. Per element, the moves those runs make from float64's result,
summed by sign, widen the interval the result may lie in (run.py's spread): dlc may take
any set of them, and to first order each moves the result on its own. The bound itself,
rounding's, does not grow: elements no flip moves are held as tightly as before.

Inputs exactly at the kink in float64 (a relu's exact 0, an exact tie) are left as PyTorch
takes them: the reference's own rule there (relu's and abs's gradient 0 at 0, max pooling's
first maximum, `max`'s gradient split evenly) is part of what the difftest checks, and float32
rounding rarely separates what float64 finds equal.
"""
import contextlib

import torch
import torch.nn.functional as F


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Kinks:
    """relu, leaky_relu, abs, max_pool2d and amax: PyTorch's (mode None), recorded, or with
    the inputs near their kinks taken on the other side."""

    def __init__(self):
        self.mode = None
        self.calls = []        # "record": each call's (kind, input), in call order
        self.bounds = None     # "flip": per call, the distance to the kink taken as near it
        self.select = None     # "flip": which of the near inputs to flip, by ordinal
        self.seen = 0          # "flip": near inputs met so far (the next one's ordinal)
        self.flipped = 0       # "flip": how many were taken on the other side
        self.index = 0

    @contextlib.contextmanager
    def recording(self):
        """Record each kink's input while the block runs; yields the list of them."""
        assert self.mode is None
        self.mode, self.calls = "record", []
        try:
            yield self.calls
        finally:
            self.mode = None

    @contextlib.contextmanager
    def flipping(self, bounds, select=lambda ordinal: True):
        """Take inputs within bounds[i] of their kink (call i), but not at it, on the other
        side while the block runs: those whose ordinal among such inputs (in call order,
        each call's in its elements' order) `select` takes."""
        assert self.mode is None
        self.mode, self.bounds, self.select = "flip", bounds, select
        self.index, self.seen, self.flipped = 0, 0, 0
        try:
            yield self
        finally:
            self.mode = None

    @staticmethod
    def near_bounds(calls32, calls64, cond):
        """Per call, the distance to its kink within which float32 does not decide the side:
        cond times the largest float32 error of that call's input (float32 run against
        float64); and how many inputs of the float64 run lie that close to their kink."""
        assert len(calls32) == len(calls64)
        bounds, near = [], 0
        for (kind32, a), (kind64, b) in zip(calls32, calls64):
            assert kind32 == kind64 and a.shape == b.shape
            d = (a.double() - b).abs()
            d = d[torch.isfinite(d)]
            bound = cond * float(d.max()) if d.numel() else 0.0
            near += int(Kinks._near(kind64, b, bound).sum())
            bounds.append(bound)
        return bounds, near

    @staticmethod
    def _near(kind, x, bound):
        """Per output element, whether its input lies within bound of the kink, not at it."""
        with torch.no_grad():
            if kind[0] in ELEMENTWISE:
                dist = x.abs()
            else:
                values, _ = Kinks._windows(kind, x)
                if values.shape[-1] < 2:  # windows of one element: no tie
                    return torch.zeros(values.shape[:-1], dtype=torch.bool)
                top = values.topk(2, dim=-1).values
                dist = top[..., 0] - top[..., 1]
            return torch.isfinite(dist) & (dist > 0) & (dist <= bound)

    @staticmethod
    def _windows(kind, x):
        """Every window of a max as the last dim of a tensor (one row per output element),
        and where each window element lies in x: (values, positions), positions into x
        flattened per (sample, channel) for pooling (-1 for padding), None for a reduction
        (its rows are x permuted)."""
        what, args = kind
        if what == "pool":
            (kh, kw), (sh, sw), (ph, pw) = args
            n, c, h, w = x.shape
            padded = F.pad(x, (pw, pw, ph, ph), value=float("-inf"))
            cols = F.unfold(padded, (kh, kw), stride=(sh, sw))            # [N, C*kh*kw, L]
            values = cols.view(n, c, kh * kw, -1).transpose(2, 3)          # [N, C, L, kh*kw]
            plane = torch.arange(h * w, dtype=torch.float64).view(1, 1, h, w)
            plane = F.pad(plane, (pw, pw, ph, ph), value=-1.0)
            pos = F.unfold(plane, (kh, kw), stride=(sh, sw)).view(1, 1, kh * kw, -1).transpose(2, 3)
            return values, pos.long()
        dims, _ = args
        rest = [i for i in range(x.dim()) if i not in dims]
        values = x.permute(rest + list(dims)).reshape([x.shape[i] for i in rest] + [-1])
        return values, None

    @staticmethod
    def _other_side(kind, x):
        """What the op gives with every input taken on the other side of its kink (where it
        is near it; elsewhere anything): the value moves by the distance to the kink, the
        gradient is the other side's."""
        what, args = kind
        if what == "relu":
            return torch.where(x > 0, x * 0, x)
        if what == "leaky_relu":
            return torch.where(x > 0, x * args, x)
        if what == "abs":
            return -x.abs()
        values, pos = Kinks._windows(kind, x)
        with torch.no_grad():
            runner_up = values.topk(2, dim=-1).indices[..., 1:2]
        if pos is None:
            return values.gather(-1, runner_up).squeeze(-1)
        n, c = x.shape[:2]
        where = pos.expand(n, c, -1, -1).gather(-1, runner_up).squeeze(-1)   # [N, C, L]
        return x.reshape(n, c, -1).gather(-1, where.clamp(min=0))  # (padding only where not near)

    def _call(self, kind, x, plain):
        if self.mode == "record":
            self.calls.append((kind, x.detach().clone()))
            return plain
        if self.mode != "flip":
            return plain
        bound = self.bounds[self.index]
        self.index += 1
        near = self._near(kind, x, bound).flatten()
        at = near.nonzero().squeeze(1)
        chosen = torch.tensor([self.select(self.seen + i) for i in range(len(at))], dtype=torch.bool)
        self.seen += len(at)
        near[at[~chosen]] = False
        if not near.any():
            return plain
        self.flipped += int(near.sum())
        return torch.where(near.view(plain.shape), self._other_side(kind, x).view(plain.shape), plain)

    def relu(self, x):
        return self._call(("relu", None), x, torch.relu(x))

    def leaky_relu(self, x, alpha):
        return self._call(("leaky_relu", alpha), x, F.leaky_relu(x, alpha))

    def abs(self, x):
        return self._call(("abs", None), x, torch.abs(x))

    def max_pool2d(self, x, kernel, stride, padding):
        """F.max_pool2d(x, kernel, stride, padding)."""
        kind = ("pool", (_pair(kernel), _pair(stride), _pair(padding)))
        return self._call(kind, x, F.max_pool2d(x, kernel, stride, padding))

    def amax(self, x, dims, keepdim=False):
        """torch.amax(x, dims, keepdim); dims () for every dim."""
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        dims = tuple(sorted(d % x.dim() for d in dims)) if dims else tuple(range(x.dim()))
        kind = ("max", (dims, keepdim))
        return self._call(kind, x, torch.amax(x, dims, keepdim=keepdim))


# The kinks of one element each, at 0.
ELEMENTWISE = ("relu", "leaky_relu", "abs")

KINKS = Kinks()
