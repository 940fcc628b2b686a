#!/usr/bin/env python3
"""Objective gap and time of `lca encode --dims 1` with its default settings on audio (issue 25).

Signal: assets/speech_like_16k.wav (4 s, 16 kHz mono), split into --seg-len segments as
signals (N, 1, T) (0: the whole clip as one signal). Dictionary: --atoms gammatone-like
kernels of --kernel taps (t^3 e^{-2π·1.019·ERB(f)·t} cos 2πft, centre frequencies log-spaced
100 Hz – 6 kHz, unit norm), the shape of kernels learned from speech (Smith & Lewicki 2006).
λ: --lambda, or found by bisection so that about --active of the coefficients are non-zero.
Reference: the lowest objective of the binaries' runs with `--tol 0 --max-iters --ref-iters` (a long solve; its own KKT
residual is printed). Gap = (F - F_ref) / F_ref of the mean objective `lca encode --json`
reports. Time: the whole `lca encode` process, best of --repeats.

  python3 scripts/conv1d_gap.py --lca target/release/lca [--lca-before OTHER_BINARY]
"""
import argparse, json, os, struct, subprocess, sys, tempfile, time, wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def clip():
    with wave.open(os.path.join(HERE, "..", "assets", "speech_like_16k.wav")) as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    return rate, np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def gammatones(m, k, rate):
    t = np.arange(k) / rate
    out = []
    for f in np.geomspace(100.0, 6000.0, m):
        erb = 24.7 + 0.108 * f
        g = t ** 3 * np.exp(-2 * np.pi * 1.019 * erb * t) * np.cos(2 * np.pi * f * t)
        out.append(g / np.linalg.norm(g))
    return np.array(out, np.float32)[:, None, :]


def encode(lca, d, x, out, *extra):
    t0 = time.perf_counter()
    r = subprocess.run([lca, "encode", "-d", d, "-i", x, "-o", out, "--dims", "1", "--json", *extra],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(r.stderr)
    return json.loads(r.stdout), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lca", default=os.path.join(HERE, "..", "target", "release", "lca"))
    ap.add_argument("--lca-before", help="a second binary (e.g. main's) measured alike")
    ap.add_argument("--seg-len", type=int, default=16000)
    ap.add_argument("--atoms", type=int, default=32)
    ap.add_argument("--kernel", type=int, default=64)
    ap.add_argument("--lambda", dest="lam", type=float)
    ap.add_argument("--active", type=float, default=0.05)
    ap.add_argument("--ref-iters", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--extra", default="", help="more flags for the timed runs")
    a = ap.parse_args()
    rate, s = clip()
    T = a.seg_len or len(s)
    x = s[: len(s) // T * T].reshape(-1, 1, T)
    tmp = tempfile.mkdtemp()
    dp, xp, op = (os.path.join(tmp, n) for n in ("D.npy", "X.npy", "A.npy"))
    np.save(dp, gammatones(a.atoms, a.kernel, rate))
    np.save(xp, x)
    n_coef = x.shape[0] * a.atoms * T
    lam = a.lam
    if lam is None:
        lo, hi = 0.0, 1.0
        for _ in range(12):
            lam = (lo + hi) / 2
            j, _ = encode(a.lca, dp, xp, op, "--lambda", str(lam))
            frac = j["mean_active"] * x.shape[0] / n_coef
            lo, hi = (lam, hi) if frac > a.active else (lo, lam)
    # The reference: the lowest objective of each binary's long solve.
    long = ["--lambda", str(lam), "--tol", "0", "--max-iters", str(a.ref_iters)]
    ref, ref_wall = min((encode(b, dp, xp, op, *long) for b in filter(None, [a.lca, a.lca_before])),
                        key=lambda r: r[0]["objective"])
    f_ref = ref["objective"]
    print(f"signals {x.shape}, {a.atoms} gammatones × {a.kernel} taps, λ = {lam:.6g}, "
          f"active {ref['mean_active'] * x.shape[0] / n_coef:.2%}, reference F = {f_ref:.8g} "
          f"({a.ref_iters} steps, {ref_wall:.1f} s, schedule {ref['schedule']})")
    extra = a.extra.split()
    for name, binary in [("after", a.lca), ("before", a.lca_before)]:
        if not binary:
            continue
        for tol in [None, "1e-4"]:
            flags = ["--lambda", str(lam), *extra] + (["--tol", tol] if tol else [])
            best, j = float("inf"), None
            for _ in range(a.repeats):
                j, w = encode(binary, dp, xp, op, *flags)
                best = min(best, w)
            gap = (j["objective"] - f_ref) / f_ref
            print(f"{name:6} tol {tol or 'default':7}: gap {gap:.2e}, steps {j['iterations']}, "
                  f"converged {j['converged']}, {best:.2f} s (best of {a.repeats})")


if __name__ == "__main__":
    main()
