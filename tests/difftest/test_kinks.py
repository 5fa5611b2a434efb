"""kinks.py against gradients worked out by hand: PyTorch's where nothing is flipped, the
other side's where an input is near its kink (a relu near 0, a near tie in a window), inputs
at the kink (exact ties, exact zeros) as PyTorch takes them."""
import sys

import torch
import torch.nn.functional as F

from kinks import Kinks

failures = []


def check(what, ok):
    if not ok:
        failures.append(what)


def grad_of(f, x, weights=None):
    """f(x) and d(sum(weights * f(x)))/dx."""
    x = x.clone().requires_grad_(True)
    y = f(x)
    w = torch.arange(1, y.numel() + 1, dtype=y.dtype).view(y.shape) if weights is None else weights
    (y * w).sum().backward()
    return y.detach(), x.grad


k = Kinks()
torch.manual_seed(0)

# Unflipped (no mode, recording, and flipping with no window near a tie): PyTorch's values
# and gradients, rectangles and padding included.
for kernel, stride, padding in ((2, 2, 0), (3, 1, 1), ((1, 3), (1, 2), (0, 1)), ((3, 2), 2, (1, 1))):
    x = torch.randn(3, 4, 7, 6, dtype=torch.float64)
    want = grad_of(lambda t: F.max_pool2d(t, kernel, stride, padding), x)
    got = grad_of(lambda t: k.max_pool2d(t, kernel, stride, padding), x)
    with k.recording() as calls:
        rec = grad_of(lambda t: k.max_pool2d(t, kernel, stride, padding), x)
    with k.flipping([0.0]):
        flip0 = grad_of(lambda t: k.max_pool2d(t, kernel, stride, padding), x)
    for name, g in (("plain", got), ("recording", rec), ("flipping nothing", flip0)):
        check("max_pool2d %s %s: values" % (name, (kernel, stride, padding)), torch.equal(g[0], want[0]))
        check("max_pool2d %s %s: gradient" % (name, (kernel, stride, padding)), torch.equal(g[1], want[1]))
    check("recording keeps the input", len(calls) == 1 and torch.equal(calls[0][1], x))
for dims, keep in ((1, False), ((0, 2), True), ((), False), (-1, True)):
    x = torch.randn(4, 5, 6, dtype=torch.float64)
    want = grad_of(lambda t: torch.amax(t, dims, keepdim=keep), x)
    with k.flipping([0.0]):
        got = grad_of(lambda t: k.amax(t, dims, keep), x)
    check("amax %s keepdim %s: values" % (dims, keep), torch.equal(got[0], want[0]))
    check("amax %s keepdim %s: gradient" % (dims, keep), torch.equal(got[1], want[1]))

# A near tie in one window of a 2x2 pooling, the other window clear: PyTorch's gradient goes
# to the larger (row 0, col 1); flipped, to its runner-up (row 0, col 0), by its own weight.
x = torch.tensor([[[[1.0, 1.0 + 1e-9, 5.0, 2.0],
                    [0.0, 0.5, 1.0, 4.0]]]], dtype=torch.float64)
_, plain = grad_of(lambda t: k.max_pool2d(t, 2, 2, 0), x)
check("near tie, plain: the larger", plain[0, 0, 0, 1] == 1 and plain[0, 0, 0, 0] == 0)
with k.flipping([1e-6]) as f:
    y, g = grad_of(lambda t: k.max_pool2d(t, 2, 2, 0), x)
check("near tie, flipped: the runner-up", g[0, 0, 0, 0] == 1 and g[0, 0, 0, 1] == 0)
check("near tie, flipped: the other window as PyTorch's", g[0, 0, 0, 2] == 2 and g[0, 0, 1, 3] == 0)
check("near tie, flipped: one maximum counted", f.flipped == 1)
check("near tie, flipped: values move by the gap", float((y - F.max_pool2d(x, 2, 2, 0)).abs().max()) <= 2e-9)
with k.flipping([1e-10]):
    _, g = grad_of(lambda t: k.max_pool2d(t, 2, 2, 0), x)
check("a gap above the bound is not flipped", torch.equal(g, plain))

# With padding, the window at the corner holds padding's -inf: the runner-up is an element
# of x (positions are x's, not the padded plane's).
x = torch.tensor([[[[3.0, 3.0 - 1e-9, 0.0], [1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]]], dtype=torch.float64)
with k.flipping([1e-6]):
    _, g = grad_of(lambda t: k.max_pool2d(t, 2, 2, 1), x, torch.ones(1, 1, 2, 2, dtype=torch.float64))
check("padding: (0, 0) and (0, 1) in windows of their own, neither flipped", g[0, 0, 0, 0] == 1 and g[0, 0, 0, 1] == 1)
x = torch.tensor([[[[0.0, 3.0, 3.0 - 1e-9], [1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]]], dtype=torch.float64)
with k.flipping([1e-6]):
    _, g = grad_of(lambda t: k.max_pool2d(t, 2, 2, 1), x, torch.ones(1, 1, 2, 2, dtype=torch.float64))
check("padding: (0, 1) and (0, 2) share a window, flipped to (0, 2)", g[0, 0, 0, 2] == 1 and g[0, 0, 0, 1] == 0)
check("padding: the corner window, (0, 0) beside padding alone, not flipped", g[0, 0, 0, 0] == 1)

# max: a near tie along the reduced dim flips; an exact tie keeps amax's even split.
x = torch.tensor([[1.0, 2.0, 2.0 + 1e-9], [4.0, 4.0, 0.0]], dtype=torch.float64)
with k.flipping([1e-6]) as f:
    _, g = grad_of(lambda t: k.amax(t, 1), x, torch.tensor([1.0, 1.0], dtype=torch.float64))
check("max, near tie flipped", g[0].tolist() == [0.0, 1.0, 0.0])
check("max, exact tie split evenly", g[1].tolist() == [0.5, 0.5, 0.0])
check("max, one flipped", f.flipped == 1)
with k.flipping([1e-6]):
    _, g = grad_of(lambda t: k.amax(t, (0, 1), True), x, torch.ones(1, 1, dtype=torch.float64))
check("max over every dim, keepdims: the exact tie of 4 split", g[1].tolist() == [0.5, 0.5, 0.0])

# relu, leaky_relu and abs: inputs within the bound of 0 (not at it) take the other side's
# gradient; the rest and exact zeros PyTorch's.
x = torch.tensor([-1.0, -1e-9, 0.0, 1e-9, 2.0], dtype=torch.float64)
for name, f, plain_grad, flipped_grad in (
        ("relu", k.relu, [0, 0, 0, 1, 1], [0, 1, 0, 0, 1]),
        ("leaky_relu", lambda t: k.leaky_relu(t, 0.2), [0.2, 0.2, 0.2, 1, 1], [0.2, 1, 0.2, 0.2, 1]),
        ("abs", k.abs, [-1, -1, 0, 1, 1], [-1, 1, 0, -1, 1])):
    ones = torch.ones(5, dtype=torch.float64)
    y0, g0 = grad_of(f, x, ones)
    with k.flipping([1e-6]) as fl:
        y1, g1 = grad_of(f, x, ones)
    check("%s: PyTorch's gradient" % name, g0.tolist() == plain_grad)
    check("%s: flipped near 0" % name, g1.tolist() == flipped_grad and fl.flipped == 2)
    check("%s: values move by at most the distance" % name, float((y1 - y0).abs().max()) <= 2e-9)

# Only the selected ones among the near inputs, by ordinal in call order.
x = torch.tensor([1e-9, 2.0, -1e-9, 1e-9], dtype=torch.float64)
for pick, want in ((0, [0, 1, 0, 1]), (1, [1, 1, 1, 1]), (2, [1, 1, 0, 0])):
    with k.flipping([1e-6], lambda o: o == pick) as fl:
        _, g = grad_of(k.relu, x, torch.ones(4, dtype=torch.float64))
    check("relu, near input %d alone flipped" % pick, g.tolist() == want and fl.flipped == 1 and fl.seen == 3)

# The bounds: a factor times the float32 input's largest error per call, and how many
# inputs of the float64 run lie that near their kink.
x64 = torch.tensor([[[[1.0, 1.0 + 3e-8], [0.0, 0.25]]]], dtype=torch.float64)
x32 = (x64 + torch.tensor([[[[0.0, 0.0], [1e-8, 0.0]]]], dtype=torch.float64)).float()
with k.recording() as c32:
    k.max_pool2d(x32, 2, 2, 0)
    k.relu(x32 - 0.25)
with k.recording() as c64:
    k.max_pool2d(x64, 2, 2, 0)
    k.relu(x64 - 0.25)
err = float((c32[0][1].double() - x64).abs().max())
b, near = Kinks.near_bounds(c32, c64, 10.0)
check("bounds: 10 times the largest error", abs(b[0] - 10 * err) < 1e-20)
check("bounds: the pooling's near tie and none of the relu's (its 0 exact)", near == 1)
check("bounds: none with no tie that close", Kinks.near_bounds(c32, c64, 0.1)[1] == 0)

if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print("kinks: all checks pass")
