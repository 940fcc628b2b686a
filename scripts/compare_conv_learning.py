#!/usr/bin/env python3
"""Convolutional dictionary learning: `lca learn --conv` against SPORCO's
`OnlineConvBPDNDictLearn` for the same wall time on the same images, both
dictionaries then scored on a held-out image by the SAME coder (SPORCO's
ConvBPDN run to convergence at the same lambda).

    pip install sporco==0.2.2.post1 pillow
    cargo build --release
    python3 scripts/compare_conv_learning.py --seconds 120

Images: /work/shared/data/images plus assets/images, each converted to grey
(Rec. 709 luminance, as `lca learn` does), shrunk so the shorter side is 256
and centre-cropped to 256x256, written as 8-bit PNGs; one (--heldout, default
camera) is held out (named so it sorts last: `lca learn --conv` holds out the
last image in name order, so it never trains on it either). Both learners see
the same high-passed images (SPORCO's `tikhonov_filter(img, 5, 16)` for
SPORCO; `--highpass 5` for lca, which matches it to 1e-6), draw random
128x128 crops one per step, and learn 32 filters of 12x12 at lambda = 0.1.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def grey_256(path):
    img = Image.open(path).convert("RGB")
    rgb = np.asarray(img, dtype=np.float64) / 255.0
    grey = rgb @ np.array([0.2126, 0.7152, 0.0722])
    h, w = grey.shape
    scale = 256 / min(h, w)
    pil = Image.fromarray(np.uint8(np.clip(grey * 255 + 0.5, 0, 255)))
    pil = pil.resize((max(256, round(w * scale)), max(256, round(h * scale))), Image.LANCZOS)
    a = np.asarray(pil)
    y0, x0 = (a.shape[0] - 256) // 2, (a.shape[1] - 256) // 2
    return a[y0:y0 + 256, x0:x0 + 256]


def make_folder(work, heldout):
    folder = os.path.join(work, "images")
    os.makedirs(folder, exist_ok=True)
    seen = {}
    for p in sorted(glob.glob("/work/shared/data/images/*")) + sorted(
            glob.glob(os.path.join(ROOT, "assets/images/*"))):
        name = os.path.splitext(os.path.basename(p))[0]
        if name in seen:  # assets/ repeats some of the shared images
            continue
        seen[name] = p
    for name, p in seen.items():
        out = ("zz_heldout_" + name) if name == heldout else name
        Image.fromarray(grey_256(p)).save(os.path.join(folder, out + ".png"))
    files = sorted(glob.glob(os.path.join(folder, "*.png")))
    return folder, files[:-1], files[-1]


def load01(path):
    return np.asarray(Image.open(path), dtype=np.float64) / 255.0


def run_lca(args, folder, out):
    cmd = [os.path.join(ROOT, "target/release/lca"), "learn", "--conv", folder,
           "-o", out, "--max-seconds", str(args.seconds), "--steps", "0",
           "--atoms", str(args.atoms), "--kernel-size", str(args.k),
           "--lambda", str(args.lmbda), "--highpass", "5", "--crop", str(args.crop),
           "--seed", str(args.seed), "--json"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    d = np.load(os.path.join(out, "dictionary.npy"))  # (M, k, k)
    return d, summary, wall


def run_sporco(args, train_files, seconds):
    from sporco import signal
    from sporco.dictlrn import onlinecdl
    imgs = [signal.tikhonov_filter(load01(f).astype(np.float32), 5, 16)[1] for f in train_files]
    rng = np.random.default_rng(args.seed)
    d0 = rng.standard_normal((args.k, args.k, args.atoms)).astype(np.float32)
    # Options of SPORCO's own example (examples/scripts/cdl/onlinecdl_gry.py).
    opt = onlinecdl.OnlineConvBPDNDictLearn.Options({
        "Verbose": False, "ZeroMean": False, "eta_a": 10.0, "eta_b": 20.0,
        "DataType": np.float32,
        "CBPDN": {"rho": 5.0, "AutoRho": {"Enabled": True}, "RelaxParam": 1.8,
                  "RelStopTol": 1e-7, "MaxMainIter": 50, "FastSolve": False,
                  "DataType": np.float32}})
    learner = onlinecdl.OnlineConvBPDNDictLearn(d0, args.lmbda, opt)
    t0 = time.perf_counter()
    steps = 0
    while time.perf_counter() - t0 < seconds:
        img = imgs[rng.integers(len(imgs))]
        y, x = rng.integers(0, img.shape[0] - args.crop + 1), rng.integers(0, img.shape[1] - args.crop + 1)
        learner.solve(img[y:y + args.crop, x:x + args.crop])
        steps += 1
    d = learner.getdict().squeeze()  # (k, k, M)
    return np.transpose(d, (2, 0, 1)), steps, time.perf_counter() - t0


def heldout_objective(d_mkk, image, lmbda):
    """Objective per pixel of the held-out image coded by SPORCO's ConvBPDN to
    convergence (filters normalised; circular boundary)."""
    from sporco.admm import cbpdn
    d = d_mkk / np.linalg.norm(d_mkk.reshape(len(d_mkk), -1), axis=1)[:, None, None]
    d = np.transpose(d, (1, 2, 0)).astype(np.float64)
    opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": 500, "RelStopTol": 1e-4,
                                  "AutoRho": {"Enabled": True}, "RelaxParam": 1.8})
    b = cbpdn.ConvBPDN(d, image, lmbda, opt)
    x = b.solve()
    rec = b.reconstruct().squeeze()
    obj = 0.5 * np.sum((image - rec) ** 2) + lmbda * np.sum(np.abs(x))
    return obj / image.size, float(np.mean(x != 0)), b.k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--atoms", type=int, default=32)
    ap.add_argument("--k", type=int, default=12)
    ap.add_argument("--lmbda", type=float, default=0.1)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--heldout", default="camera")
    ap.add_argument("--work", default="/tmp/compare_conv_learning")
    args = ap.parse_args()
    from sporco import signal
    os.makedirs(args.work, exist_ok=True)
    folder, train, held = make_folder(args.work, args.heldout)
    print(f"train on {len(train)} images, held out {os.path.basename(held)}", file=sys.stderr)
    out = os.path.join(args.work, "lca_out")
    subprocess.run(["rm", "-rf", out], check=True)
    d_lca, summary, wall_lca = run_lca(args, folder, out)
    d_sp, steps_sp, wall_sp = run_sporco(args, train, args.seconds)
    np.save(os.path.join(args.work, "sporco_dictionary.npy"), d_sp.astype(np.float32))
    x = signal.tikhonov_filter(load01(held), 5, 16)[1]
    res = {"seconds": args.seconds, "lambda": args.lmbda, "atoms": args.atoms, "k": args.k}
    for name, d in [("lca", d_lca), ("sporco", d_sp)]:
        obj, frac, iters = heldout_objective(d, x, args.lmbda)
        res[name] = {"heldout_objective_per_pixel": obj, "active_fraction": frac,
                     "coder_iterations": iters}
    res["lca"].update({"steps": summary["steps"], "training_seconds": summary["seconds"],
                       "wall_seconds": wall_lca,
                       "own_heldout_energy": summary["heldout_energy"]})
    res["sporco"].update({"steps": steps_sp, "wall_seconds": wall_sp})
    zero = 0.5 * np.sum(x ** 2) / x.size
    res["zero_codes_objective_per_pixel"] = zero
    res["ratio_lca_over_sporco"] = res["lca"]["heldout_objective_per_pixel"] / res["sporco"]["heldout_objective_per_pixel"]
    print(json.dumps(res, indent=2))
    try:
        from sporco import plot  # noqa: F401
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sporco import util
        fig, ax = plt.subplots(1, 2, figsize=(10, 5))
        for a, (name, d) in zip(ax, [("lca", d_lca), ("sporco", d_sp)]):
            a.imshow(util.tiledict(np.transpose(d, (1, 2, 0))), cmap="gray")
            a.set_title(f"{name}: {res[name]['heldout_objective_per_pixel']:.3e}/pixel")
            a.axis("off")
        fig.savefig(os.path.join(args.work, "filters.png"), dpi=100)
    except Exception as e:  # pictures are a convenience
        print(f"no filters.png ({e})", file=sys.stderr)


if __name__ == "__main__":
    main()
