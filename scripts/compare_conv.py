#!/usr/bin/env python3
"""Convolutional sparse coding: lca's rate/spiking conv LCA against SPORCO's ConvBPDN.

Problem (issue 13): a 256x256 grey natural image in [0, 1] (default: astronaut.png, 512x512,
box-averaged 2x2 down to 256x256; camera and coffee are held out for conv learning), high-passed with
sporco.signal.tikhonov_filter(img, 5, 16), SPORCO's dictionary G:12x12x36 (filters
normalised), lambda = 0.05, circular boundary. Also checks the reconstruction contract
(scipy.signal.convolve2d, mode='same', boundary='wrap'/'fill') on lca's codes.

Usage: python3 scripts/compare_conv.py [--image PATH] [--repeats 3] [--out DIR]
Needs `cargo build --release --bin lca --example conv_encode` first; run with 2 threads
(RAYON_NUM_THREADS=2 is set for lca; SPORCO uses pyfftw with 2 threads, the core count).
The spiking solver is compared in BENCHMARKS.md's own section (not here).
"""
import argparse, json, os, subprocess, sys, time
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(ROOT, "target", "release", "examples", "conv_encode")
CLI = os.path.join(ROOT, "target", "release", "lca")
DEFAULT_IMAGE = "/work/shared/data/images/astronaut.png"


def grey_square(path, size=256):
    """Grey image in [0, 1], box-resized so its shorter side is `size`, centre-cropped square."""
    im = Image.open(path).convert("L")
    scale = size / min(im.size)
    if scale != 1:
        im = im.resize((max(size, round(im.size[0] * scale)), max(size, round(im.size[1] * scale))),
                       Image.BOX)
    img = np.asarray(im, dtype=np.float64) / 255.0
    h, w = img.shape
    y0, x0 = (h - size) // 2, (w - size) // 2
    return img[y0:y0 + size, x0:x0 + size]


def problem(path, size=256):
    import sporco.signal, sporco.util
    img = grey_square(path, size)
    _, sh = sporco.signal.tikhonov_filter(img, 5, 16)
    D = sporco.util.convdicts()["G:12x12x36"].astype(np.float64)
    D /= np.sqrt(np.sum(D ** 2, axis=(0, 1), keepdims=True))
    return sh.astype(np.float32), D.astype(np.float32)


def objective_wrap(D, x, A, lmbda):
    """Objective of SPORCO-layout codes (filters at the origin, circular)."""
    H, W = x.shape
    Df = np.fft.rfft2(D, s=(H, W), axes=(0, 1))
    Af = np.fft.rfft2(A, axes=(0, 1))
    rec = np.fft.irfft2(np.sum(Df * Af, axis=2), s=(H, W))
    return 0.5 * np.sum((x - rec) ** 2) + lmbda * np.sum(np.abs(A))


def run_sporco(D, x, lmbda, iters, nonneg=False, fast=False):
    """ConvBPDN for `iters` iterations: (times, objectives, solver). With `fast`, SPORCO's
    FastSolve (no per-iteration statistics, so no objective either): only the total time."""
    from sporco.admm import cbpdn
    opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": iters, "RelStopTol": 1e-12,
                                  "AuxVarObj": True, "NonNegCoef": nonneg, "FastSolve": fast})
    t = time.perf_counter()
    b = cbpdn.ConvBPDN(D.astype(np.float64), x.astype(np.float64), lmbda, opt)
    setup = time.perf_counter() - t
    b.solve()
    if fast:
        return np.array([time.perf_counter() - t]), None, b
    st = b.getitstat()
    times = setup + np.asarray(st.Time)
    return times, np.asarray(st.ObjFun), b


def run_lca(dict_npy, img_npy, lmbda, caps, extra=()):
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    cmd = [EXE, dict_npy, img_npy, "--lambda", str(lmbda), "--max-iters", ",".join(map(str, caps)), *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def run_cli(dict_npy, img_npy, codes_npy, lmbda, extra=()):
    """`lca encode` with its defaults (but λ): wall time of the whole process, and its summary."""
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    cmd = [CLI, "encode", "-d", dict_npy, "-i", img_npy, "-o", codes_npy, "--lambda", str(lmbda),
           "--json", *extra]
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return time.perf_counter() - t, json.loads(out.strip().splitlines()[-1])


def first_index(objs, ref, gap):
    ok = np.nonzero((np.asarray(objs) - ref) / ref <= gap)[0]
    return int(ok[0]) if len(ok) else None


def time_to_gap(times, objs, ref, gap):
    i = first_index(objs, ref, gap)
    return float(np.asarray(times)[i]) if i is not None else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=DEFAULT_IMAGE)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lmbda", type=float, default=0.05)
    ap.add_argument("--sporco-iters", type=int, default=150)
    ap.add_argument("--ref-iters", type=int, default=500)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "compare_conv"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    x, D = problem(a.image)
    lm = a.lmbda
    # lca layout: (n_filters, 1, k, k); coefficient (y, x) puts tap o=(k-1)//2 on its pixel,
    # so lca's maps are SPORCO's rolled by o: the objective is the same.
    dict_npy = os.path.join(a.out, "G12x12x36.npy")
    img_npy = os.path.join(a.out, "image.npy")
    np.save(dict_npy, np.ascontiguousarray(np.transpose(D, (2, 0, 1))[:, None]))
    np.save(img_npy, x)
    print(f"problem: {os.path.basename(a.image)} as 256x256 grey, tikhonov_filter(img, 5, 16) high-pass,"
          f" G:12x12x36 normalised, lambda {lm}, circular")

    # Reference optimum: a long SPORCO run and a tight lca run; the lower objective.
    _, objs, _ = run_sporco(D, x, lm, a.ref_iters)
    ref_sporco = float(objs[-1])
    tight = run_lca(dict_npy, img_npy, lm, [100000],
                    ["--tol", "1e-5", "--out", os.path.join(a.out, "codes.npy")])[0]
    ref = min(ref_sporco, tight["objective"])
    print(f"reference objective: SPORCO {a.ref_iters} it {ref_sporco:.6f}, lca tol 1e-5 {tight['objective']:.6f}"
          f" ({tight['seconds']:.2f} s, {tight['iterations']} steps, {tight['nnz']} non-zeros);"
          f" relative difference {(ref_sporco - tight['objective']) / ref:.1e}")

    # Contract check: lca's codes through scipy.signal.convolve2d(mode='same', boundary='wrap').
    from scipy.signal import convolve2d
    A = np.load(os.path.join(a.out, "codes.npy"))
    rec = sum(convolve2d(A[m], D[:, :, m], mode="same", boundary="wrap") for m in range(A.shape[0]))
    obj_scipy = 0.5 * np.sum((x - rec) ** 2) + lm * np.abs(A).sum()
    print(f"contract: objective via scipy convolve2d {obj_scipy:.6f} vs lca {tight['objective']:.6f}")

    # Time-to-gap curves: lca solves capped at N steps (tolerance 0, each from scratch, timed
    # inside the process), SPORCO's per-iteration statistics; then SPORCO's FastSolve timed for
    # the iterations it needed (its statistics cost time), and `lca encode` with its defaults
    # (the whole process). All interleaved, best of the repeats.
    caps = [10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 500]
    gaps = [1e-1, 1e-2, 3e-3, 1e-3, 1e-4]
    results = {"sporco": [], "lca": [], "sporco_fast": [], "lca_cli": []}
    sporco_iters = None
    for rep in range(a.repeats):
        t, o, _ = run_sporco(D, x, lm, a.sporco_iters)
        results["sporco"].append((t.tolist(), o.tolist()))
        if sporco_iters is None:
            sporco_iters = first_index(o, ref, 1e-3)
        if sporco_iters is not None:
            tf, _, _ = run_sporco(D, x, lm, sporco_iters + 1, fast=True)
            results["sporco_fast"].append(float(tf[0]))
        runs = run_lca(dict_npy, img_npy, lm, caps, ["--tol", "0"])
        results["lca"].append(([r["seconds"] for r in runs], [r["objective"] for r in runs]))
        sec, summary = run_cli(dict_npy, img_npy, os.path.join(a.out, "default_codes.npy"), lm)
        results["lca_cli"].append((sec, summary["objective"], summary["iterations"][0]))
    print(f"{'gap':>8} {'SPORCO s':>10} {'it':>5} {'lca s':>8} {'steps':>6} {'ratio':>7}")
    for g in gaps:
        ts = min(time_to_gap(t, o, ref, g) for t, o in results["sporco"])
        tl = min(time_to_gap(t, o, ref, g) for t, o in results["lca"])
        it_s = first_index(results["sporco"][0][1], ref, g)
        it_l = first_index(results["lca"][0][1], ref, g)
        print(f"{g:8.0e} {ts:10.2f} {it_s + 1 if it_s is not None else '-':>5} {tl:8.3f}"
              f" {caps[it_l] if it_l is not None else '-':>6} {ts / tl:7.1f}")
    tf = min(results["sporco_fast"]) if results["sporco_fast"] else float("nan")
    if results["sporco_fast"]:
        print(f"SPORCO FastSolve, {sporco_iters + 1} iterations (its first to gap <= 1e-3), set-up included:"
              f" {tf:.2f} s (best of {len(results['sporco_fast'])})")
    sec, obj, steps = min(results["lca_cli"])
    print(f"lca encode, defaults: {sec:.3f} s (best of {len(results['lca_cli'])}, whole process), {steps} steps,"
          f" gap {(obj - ref) / ref:.2e}; SPORCO / lca time to gap 1e-3: {tf / sec:.1f}")

    with open(os.path.join(a.out, "curves.json"), "w") as f:
        json.dump({"reference": ref, "caps": caps, "results": results}, f)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, color in (("sporco", "C0"), ("lca", "C1")):
            for i, (t, o) in enumerate(results[name]):
                ax.loglog(t, np.maximum((np.asarray(o) - ref) / ref, 1e-7), color=color, alpha=0.6,
                          label=("SPORCO ConvBPDN" if name == "sporco" else "lca conv LCA") if i == 0 else None)
        ax.axhline(1e-3, color="gray", ls=":")
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("relative objective gap")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "time_to_gap.png"), dpi=120)
        print("curve:", os.path.join(a.out, "time_to_gap.png"))
    except ImportError:
        pass


if __name__ == "__main__":
    main()
