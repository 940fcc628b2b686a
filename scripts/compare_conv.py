#!/usr/bin/env python3
"""Convolutional sparse coding: lca's rate/spiking conv LCA against SPORCO's ConvBPDN.

Problem (issue 13): a 256x256 grey crop of a natural image in [0, 1], high-passed with
sporco.signal.tikhonov_filter(img, 5, 16), SPORCO's dictionary G:12x12x36 (filters
normalised), lambda = 0.05, circular boundary. Also checks the reconstruction contract
(scipy.signal.convolve2d, mode='same', boundary='wrap'/'fill') on lca's codes.

Usage: python3 scripts/compare_conv.py [--image PATH] [--repeats 3] [--out DIR]
Needs `cargo build --release --example conv_encode` first; run with 2 threads
(RAYON_NUM_THREADS=2 is set for lca; SPORCO uses numpy's FFT).
"""
import argparse, json, os, subprocess, sys, time
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(ROOT, "target", "release", "examples", "conv_encode")


def problem(path, size=256):
    import sporco.signal, sporco.util
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0
    h, w = img.shape
    y0, x0 = (h - size) // 2, (w - size) // 2
    img = img[y0:y0 + size, x0:x0 + size]
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


def run_sporco(D, x, lmbda, iters, nonneg=False):
    from sporco.admm import cbpdn
    opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": iters, "RelStopTol": 1e-12,
                                  "AuxVarObj": True, "NonNegCoef": nonneg})
    t = time.perf_counter()
    b = cbpdn.ConvBPDN(D.astype(np.float64), x.astype(np.float64), lmbda, opt)
    setup = time.perf_counter() - t
    b.solve()
    st = b.getitstat()
    times = setup + np.asarray(st.Time)
    return times, np.asarray(st.ObjFun), b


def run_lca(dict_npy, img_npy, lmbda, caps, extra=()):
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    cmd = [EXE, dict_npy, img_npy, "--lambda", str(lmbda), "--max-iters", ",".join(map(str, caps)), *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def time_to_gap(times, objs, ref, gap):
    ok = np.nonzero((np.asarray(objs) - ref) / ref <= gap)[0]
    return float(np.asarray(times)[ok[0]]) if len(ok) else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="/work/shared/data/images/camera.png")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lmbda", type=float, default=0.05)
    ap.add_argument("--sporco-iters", type=int, default=300)
    ap.add_argument("--ref-iters", type=int, default=1500)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "compare_conv"))
    ap.add_argument("--spiking", default="256,512,1024", help="spiking step counts ('' to skip)")
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

    # Reference optimum: long SPORCO run and a tight lca run; the lower objective.
    _, objs, _ = run_sporco(D, x, lm, a.ref_iters)
    ref_sporco = float(objs[-1])
    tight = run_lca(dict_npy, img_npy, lm, [100000], ["--tol", "1e-5", "--out", os.path.join(a.out, "codes.npy")])[0]
    ref = min(ref_sporco, tight["objective"])
    print(f"reference objective: SPORCO {a.ref_iters} it {ref_sporco:.6f}, lca tol 1e-5 {tight['objective']:.6f}"
          f" ({tight['seconds']:.2f} s, {tight['nnz']} non-zeros)")

    # Contract check: lca's codes through scipy.signal.convolve2d(mode='same', boundary='wrap').
    from scipy.signal import convolve2d
    A = np.load(os.path.join(a.out, "codes.npy"))
    rec = sum(convolve2d(A[m], D[:, :, m], mode="same", boundary="wrap") for m in range(A.shape[0]))
    obj_scipy = 0.5 * np.sum((x - rec) ** 2) + lm * np.abs(A).sum()
    print(f"contract: objective via scipy convolve2d {obj_scipy:.6f} vs lca {tight['objective']:.6f}")

    caps = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]
    results = {"sporco": [], "lca": []}
    for rep in range(a.repeats):
        t, o, _ = run_sporco(D, x, lm, a.sporco_iters)
        results["sporco"].append((t.tolist(), o.tolist()))
        runs = run_lca(dict_npy, img_npy, lm, caps)
        results["lca"].append(([r["seconds"] for r in runs], [r["objective"] for r in runs]))
    gaps = [1e-1, 1e-2, 3e-3, 1e-3, 1e-4]
    print(f"{'gap':>8} {'SPORCO s':>10} {'lca s':>8} {'ratio':>7}")
    summary = {}
    for g in gaps:
        ts = min(time_to_gap(t, o, ref, g) for t, o in results["sporco"])
        tl = min(time_to_gap(t, o, ref, g) for t, o in results["lca"])
        summary[g] = (ts, tl)
        print(f"{g:8.0e} {ts:10.2f} {tl:8.3f} {ts / tl:7.1f}")
    default = run_lca(dict_npy, img_npy, lm, [1000])[0]
    print(f"lca defaults (tol 1e-3): {default['seconds']:.3f} s, gap {(default['objective'] - ref) / ref:.2e},"
          f" {default['iterations']} sweeps, {default['updates']} updates")

    if a.spiking:
        steps = a.spiking
        # Non-negative optimum for the spiking comparison.
        nn = run_lca(dict_npy, img_npy, lm, [100000], ["--tol", "1e-5", "--nonneg"])[0]
        _, objs_nn, _ = run_sporco(D, x, lm, a.ref_iters // 3, nonneg=True)
        ref_nn = min(nn["objective"], float(objs_nn[-1]))
        print(f"non-negative optimum: lca {nn['objective']:.6f}, SPORCO {float(objs_nn[-1]):.6f}")
        env = dict(os.environ, RAYON_NUM_THREADS="2")
        out = subprocess.run([EXE, dict_npy, img_npy, "--lambda", str(lm), "--spiking", steps],
                             check=True, capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            r = json.loads(line)
            print(f"spiking {r['steps']:5d} steps: {r['seconds']:.2f} s, gap {(r['objective'] - ref_nn) / ref_nn:.2e},"
                  f" {r['spikes']} spikes")

    with open(os.path.join(a.out, "curves.json"), "w") as f:
        json.dump({"reference": ref, "results": results}, f)
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
