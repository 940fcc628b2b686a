#!/usr/bin/env python3
"""How gammatone-like learned 1-D kernels are: each kernel's best cosine similarity to a
windowed gammatone (issue 25's "learned kernels look like band-pass, gammatone-like
wavelets", as a number beside the plot).

The family (Patterson's gammatone, the cochlear filter Smith & Lewicki 2006 compare learned
speech kernels to): g(t) = t^(n-1) exp(-2 pi b t) cos(2 pi f t + phi) for t >= t0, zero before,
with n = 4, f on an ERB-rate grid from 50 Hz to 0.47 x the sample rate, b = 1.019 ERB(f) x s
(s in 0.75 .. 2: somewhat narrower and wider than the cochlea's), phase phi in 12 steps, and onset t0
anywhere in the kernel. Only localised wavelets count: 95 % of a template's energy lies within
--span (default 0.75) of the kernel's length, and at least --kept (0.95) of it inside the
kernel at the onset scored, so an untapered cycle filling the window is *not* scored as part of
a long gammatone. Score = max over the family of |<d, g>| / (|d| |g|) on the kernel's window
(1 for a gammatone; the controls printed beside it show what noise and sinusoids get).

    python3 scripts/gammatone_likeness.py RUN/dictionary.npy [--rate 16000] [--json]

Prints the median score, the share of kernels at or above 0.8 and 0.9, and the scores of three
controls of the same length (white noise, window-filling sinusoids, true gammatones) so the
numbers can be read.
"""
import argparse
import json

import numpy as np


def erb(f):
    return 24.7 * (4.37e-3 * f + 1.0)


def templates(k, rate, kept, span, order=4):
    """Gammatones of the family starting at t = 0, cut to k taps (rows) and scaled by the whole
    (uncut) gammatone's norm, with each row's cumulative energy. Only localised ones: 95 % of
    a template's energy lies within span x k taps."""
    e_lo, e_hi = (21.4 * np.log10(1 + 4.37e-3 * f) for f in (50.0, 0.47 * rate))
    freqs = (10 ** (np.linspace(e_lo, e_hi, 48) / 21.4) - 1) / 4.37e-3
    t = np.arange(8 * k) / rate
    rows = []
    for f in freqs:
        for s in (0.75, 1.0, 1.5, 2.0):
            env = t ** (order - 1) * np.exp(-2 * np.pi * 1.019 * erb(f) * s * t)
            for phi in np.linspace(0, np.pi, 12, endpoint=False):
                g = env * np.cos(2 * np.pi * f * t + phi)
                total = np.dot(g, g)
                frac = np.cumsum(g * g) / total
                width = np.searchsorted(frac, 0.975) - np.searchsorted(frac, 0.025)
                if width <= span * k and frac[k - 1] >= kept:
                    rows.append(g[:k] / np.sqrt(total))
    G = np.array(rows)
    return G, np.cumsum(G ** 2, axis=1), kept


def scores(kernels, bank):
    """Best |cosine| of each kernel with a template placed at any onset t0 whose part inside
    the kernel (g[: k - t0]) keeps at least `kept` of the template's energy."""
    G, cum, kept = bank
    k = G.shape[1]
    d = kernels / np.linalg.norm(kernels, axis=1, keepdims=True)
    n = 2 * k
    Fd = np.fft.rfft(d, n)
    inside = cum[:, ::-1]  # inside[:, t0] = energy of g[: k - t0]
    ok = inside >= kept
    norm = np.sqrt(np.where(ok, inside, 1.0))
    best = np.zeros(len(d))
    FG = np.conj(np.fft.rfft(G, n))
    for i in range(len(d)):
        c = np.fft.irfft(Fd[i][None, :] * FG, n)[:, :k]  # c[:, t0] = sum_t d[t0 + t] g[t]
        best[i] = np.max(np.where(ok, np.abs(c) / norm, 0.0))
    return best


def summary(s):
    return {"median": float(np.median(s)), "at_least_0.8": float(np.mean(s >= 0.8)),
            "at_least_0.9": float(np.mean(s >= 0.9)), "n": int(len(s))}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dictionary", help=".npy of shape (M, 1, k) or (M, k)")
    p.add_argument("--rate", type=float, default=16000.0, help="sample rate (Hz)")
    p.add_argument("--kept", type=float, default=0.95,
                   help="share of a template's energy that must fall inside the kernel")
    p.add_argument("--span", type=float, default=0.75,
                   help="longest template, as a share of the kernel (95 %% of its energy)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    D = np.load(a.dictionary).astype(np.float64)
    D = D.reshape(D.shape[0], -1) if D.ndim == 3 and D.shape[1] == 1 else D
    if D.ndim != 2:
        raise SystemExit(f"{a.dictionary}: expected (M, 1, k) or (M, k), got {D.shape}")
    k = D.shape[1]
    bank = templates(k, a.rate, a.kept, a.span)
    rng = np.random.default_rng(0)
    t = np.arange(k)
    sines = np.array([np.cos(2 * np.pi * f * t / a.rate + ph)
                      for f, ph in zip(rng.uniform(150, 3000, 64), rng.uniform(0, np.pi, 64))])
    G, cum, _ = bank
    pick = rng.choice(len(G), 64, replace=False)
    gt = np.array([np.concatenate([np.zeros(t0), G[j, : k - t0]])
                   for j, t0 in zip(pick, rng.integers(0, k // 4, 64))])
    learned = scores(D, bank)
    report = {"kernels": summary(learned),
              "per_kernel": [round(float(x), 3) for x in learned],
              "controls": {"white_noise": summary(scores(rng.standard_normal((64, k)), bank)),
                           "window_filling_sinusoids": summary(scores(sines, bank)),
                           "gammatones": summary(scores(gt, bank))},
              "taps": k, "rate": a.rate, "templates": len(bank[0])}
    if a.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{a.dictionary}: {D.shape[0]} kernels of {k} taps, {len(bank[0])} templates")
    for name, s in [("learned", report["kernels"])] + list(report["controls"].items()):
        print(f"  {name:26s} median {s['median']:.3f}   >=0.8: {100 * s['at_least_0.8']:5.1f} %"
              f"   >=0.9: {100 * s['at_least_0.9']:5.1f} %")


if __name__ == "__main__":
    main()
