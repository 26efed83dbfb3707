#!/usr/bin/python3
"""Fits the rational tanh of runtime/cnnrt_internal.h and checks it in float32.

tanh(x) ~ x P(x^2) / Q(x^2) on (0, CLAMP], P of degree 4 and Q of degree 4
with Q(0) = 1, chosen for the smallest maximum *relative* error (the runtime's
tests hold tanh to 1e-6 relative).  The fit is linearized least squares,
P(t) - f(t) Q(t) = 0 with f = tanh(x)/x, weighted by 1/(f |Q_prev|) so that
it measures relative error, and reweighted each round by the error itself
(Lawson) to approach the minimax.  The check then evaluates the formula the
way the AVX-512 kernel does: float32 coefficients, Horner with fused
multiply-adds, 1/Q from a 14-bit reciprocal estimate (either sign of its
error) and one Newton step.

    /usr/bin/python3 tools/fit_tanh.py     (needs numpy)
"""
import numpy as np

CLAMP = 9.0  # tanh(9) = 1 - 3.05e-8: clamping costs at most that
DEG_P, DEG_Q = 4, 4


def fit():
    x = np.concatenate([np.linspace(1e-4, 1, 4000), np.linspace(1, CLAMP, 8000)])
    t, f = x * x, np.tanh(x) / x
    powers_p = np.vstack([t**i for i in range(DEG_P + 1)]).T
    powers_q = np.vstack([t**j for j in range(1, DEG_Q + 1)]).T
    a = np.hstack([powers_p, -f[:, None] * powers_q])
    w, q_prev, best = np.ones_like(x), np.ones_like(x), None
    for _ in range(60):
        scale = w / np.abs(q_prev) / f
        sol = np.linalg.lstsq(a * scale[:, None], f * scale, rcond=None)[0]
        p, q = sol[: DEG_P + 1], np.concatenate([[1.0], sol[DEG_P + 1 :]])
        q_prev = np.polyval(q[::-1], t)
        err = np.abs(x * np.polyval(p[::-1], t) / q_prev - np.tanh(x)) / np.tanh(x)
        if best is None or err.max() < best[0]:
            best = (err.max(), p, q)
        w = w * (err / err.max() + 1e-3)
        w /= w.mean()
    return best


def check_float32(p, q):
    f32 = np.float32
    fma = lambda a, b, c: (a.astype(np.float64) * b + c).astype(f32)
    x = np.concatenate([f32(10.0) ** np.linspace(-7, 0, 200000).astype(f32), np.linspace(1, 12, 400000).astype(f32)])
    x = np.concatenate([x, -x]).astype(f32)
    xc = np.minimum(np.maximum(x, f32(-CLAMP)), f32(CLAMP))
    t = (xc * xc).astype(f32)
    pp, qq = np.full_like(t, f32(p[-1])), np.full_like(t, f32(q[-1]))
    for c in p[-2::-1]:
        pp = fma(pp, t, f32(c))
    for c in q[-2::-1]:
        qq = fma(qq, t, f32(c))
    worst = 0.0
    for est_err in (2.0**-14, -(2.0**-14)):
        y = (f32(1) / qq * (1 + est_err)).astype(f32)
        y = (y * fma(-qq, y, f32(2))).astype(f32)
        r = ((xc * pp).astype(f32) * y).astype(f32)
        want = np.tanh(x.astype(np.float64))
        worst = max(worst, float((np.abs(r - want) / np.abs(want)).max()))
    return worst


if __name__ == "__main__":
    err, p, q = fit()
    print(f"max relative error in float64: {err:.3g}")
    for i, c in enumerate(p):
        print(f"#define CNN_TANH_P{i}    {np.float32(c)!r}f")
    for i, c in enumerate(q[1:], 1):
        print(f"#define CNN_TANH_Q{i}    {np.float32(c)!r}f")
    print(f"max relative error in float32 as the kernel computes it (sampled): {check_float32(p, q):.3g}")
