"""Derives the coefficients of dl-approximate-math's f32 erf (RationalErf in
compiler/Conversion/ToLLVM/ApproximateMath.cpp) and checks them in float arithmetic.

Below 2: erf(a) = a P(a^2) / Q(a^2), P of degree 4, Q of degree 3 with Q(0) = 1; from 2
to 4: a polynomial of degree 10 in a - 3. Each fit is linearised least squares (for the
rational one, the equation a P - erf(a) Q = 0 weighted by 1 / (Q erf(a)): relative
error), then reweighted by |error|^0.3 many times over, which moves it towards the
minimax fit. The check evaluates as the generated code does: float coefficients, one
rounding per fused multiply-add, and reports ulp against erf in float64 rounded to float.

    /usr/bin/python3 scripts/fit_erf.py
"""
import numpy as np
import torch

BELOW, TOP, MID = 2.0, 4.0, 3.0


def erf(x):
    """erf in float64 (PyTorch's, within 1 ulp of double: scipy is not a dependency)."""
    return torch.erf(torch.from_numpy(np.asarray(x, np.float64))).numpy()


def reweighted(design, target, scale, iterations=80):
    """Solves design @ c = target towards the least largest |error| * scale."""
    w = np.ones_like(target)
    for it in range(iterations):
        c, *_ = np.linalg.lstsq(design * (w * scale)[:, None], target * w * scale, rcond=None)
        err = np.abs(design @ c - target) * scale
        if it > 10:
            w = w * (err / err.max()) ** 0.3 + 1e-12
            w /= w.max()
    return c


def fit_below(np_=4, nq=3):
    a = np.linspace(1e-4, BELOW, 30000)
    z, f = a * a, erf(a)
    q = np.ones_like(a)
    for _ in range(8):  # the weights 1 / Q from the last round's Q
        design = np.hstack([a[:, None] * z[:, None] ** np.arange(np_ + 1), -(f[:, None] * z[:, None] ** np.arange(1, nq + 1))])
        c = reweighted(design, f, 1 / (np.abs(q) * f))
        p, qc = c[:np_ + 1], np.concatenate([[1.0], c[np_ + 1:]])
        q = np.polyval(qc[::-1], z)
    return p, qc


def fit_above(n=10):
    a = np.linspace(BELOW, TOP, 30000)
    return reweighted((a - MID)[:, None] ** np.arange(n + 1), erf(a), np.ones_like(a))


def f32(v):
    return np.asarray(v, np.float64).astype(np.float32)


def horner(coefficients, z):
    s = np.full_like(z, coefficients[-1])
    for c in coefficients[-2::-1]:
        s = f32(s.astype(np.float64) * z + c)  # one rounding: a fused multiply-add
    return s


def erf32(x, p, q, u):
    a = np.minimum(np.abs(x), np.float32(TOP))
    z = f32(a.astype(np.float64) * a)
    below = f32(f32(a.astype(np.float64) * horner(p, z)).astype(np.float64) / horner(q, z))
    above = horner(u, f32(a.astype(np.float64) - MID))
    return np.copysign(np.where(a < BELOW, below, above), x).astype(np.float32)


def ulps(got, ref):
    return np.abs(got.view(np.int32).astype(np.int64) - ref.view(np.int32).astype(np.int64))


def main():
    p, q = fit_below()
    u = fit_above()
    p, q, u = f32(p), f32(q), f32(u)
    for name, c in (("p", p), ("q", q), ("u", u)):
        print("%s[] = {%s};" % (name, ", ".join("%.9gf" % v for v in c)))
    x = np.arange(1, np.float32(4.5).view(np.int32), 7, dtype=np.int32).view(np.float32)
    d = ulps(erf32(x, p, q, u), f32(erf(x.astype(np.float64))))
    print("every 7th float of (0, 4.5]: %d ulp at most, %.2f on average, %.2g%% above 1" % (d.max(), d.mean(), 100 * (d > 1).mean()))
    x = np.arange(np.float32(BELOW).view(np.int32), np.float32(TOP).view(np.int32) + 1, dtype=np.int32).view(np.float32)
    r = erf32(x, p, q, u)
    print("every float of [2, 4]: %d ulp at most, largest value %r" % (ulps(r, f32(erf(x.astype(np.float64)))).max(), r.max()))


if __name__ == "__main__":
    main()
