#!/usr/bin/env python3
"""Convolutional dictionary learning: `lca learn --conv` with its defaults
against SPORCO's `OnlineConvBPDNDictLearn` trained for the same wall time on
the same images; both dictionaries are then scored on the held-out images by
the SAME coder (SPORCO's ConvBPDN, run to convergence at the same lambda,
circular boundary, filters normalised).

    pip install sporco==0.2.2.post1 pillow
    cargo build --release
    python3 scripts/compare_conv_learning.py            # /work/shared/data/images

lca runs its default command, `lca learn --conv --kernel-size 12 --atoms 32
DIR -o OUT --threads 2` (every other setting a default: lambda, --highpass 5,
128x128 crops, the last two images in name order held out, the default
number of steps). Its wall time, start-up and output writing included, is the
time SPORCO then gets. SPORCO sees the same training images (the same Rec. 709
luminance in [0, 1], high-passed by its own `tikhonov_filter(img, 5, 16)`,
which `--highpass 5` matches to 1e-6), the same number of random 128x128 crops
at the same lambda, with the options of SPORCO's own `onlinecdl_gry` example
(one image per step, 50 ADMM iterations, eta = 10/(20 + i)); lca codes
`images_per_step` crops per step (its default 2, one per core).
Both learners use two threads (lca: --threads 2; SPORCO: pyfftw's threads
and OMP_NUM_THREADS=2).

The held-out objective is ½‖x − Σ d_m ∗ a_m‖² + λ‖a‖₁ per pixel of the centre
256x256 crop (--score-size; 0: the whole image) of each high-passed held-out
image (lower is better), the crop lca scores itself, with ConvBPDN run until
its relative residuals are below 1e-4 (at most --score-iters iterations).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def grey01(path):
    """Rec. 709 luminance of the image in [0, 1], as `lca learn` reads it."""
    img = Image.open(path)
    if img.mode in ("L", "I;16", "I"):
        a = np.asarray(img.convert("F"), dtype=np.float64)
        return a / (65535.0 if img.mode.startswith("I") else 255.0)
    rgb = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


def highpass(img):
    from sporco import signal
    return signal.tikhonov_filter(img, 5, 16)[1]


def run_lca(args, out):
    cmd = [os.path.join(ROOT, "target/release/lca"), "learn", "--conv",
           "--kernel-size", str(args.k), "--atoms", str(args.atoms), args.images,
           "-o", out, "--threads", "2", "--seed", str(args.seed), "--json"]
    if args.lca_steps:
        cmd += ["--steps", str(args.lca_steps)]
    if args.max_seconds:
        cmd += ["--max-seconds", str(args.max_seconds)]
        if not args.lca_steps:
            cmd += ["--steps", "0"]  # no step limit: the time budget ends the run
    print("$ " + " ".join(cmd), file=sys.stderr)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    config = json.load(open(os.path.join(out, "config.json")))
    d = np.load(os.path.join(out, "dictionary.npy"))  # (M, k, k)
    return d, summary, config, wall


def run_sporco(args, train, lmbda, crop, per_step, seconds):
    from sporco.dictlrn import onlinecdl
    imgs = [highpass(grey01(f)).astype(np.float32) for f in train]
    rng = np.random.default_rng(args.seed)
    d0 = rng.standard_normal((args.k, args.k, args.atoms)).astype(np.float32)
    opt = onlinecdl.OnlineConvBPDNDictLearn.Options({
        "Verbose": False, "ZeroMean": False, "eta_a": 10.0, "eta_b": 20.0,
        "DataType": np.float32,
        "CBPDN": {"rho": 5.0, "AutoRho": {"Enabled": True}, "RelaxParam": 1.8,
                  "RelStopTol": 1e-7, "MaxMainIter": 50, "FastSolve": False,
                  "DataType": np.float32}})
    learner = onlinecdl.OnlineConvBPDNDictLearn(d0, lmbda, opt)
    t0 = time.perf_counter()
    steps = 0
    while time.perf_counter() - t0 < seconds:
        batch = []
        for _ in range(per_step):
            img = imgs[rng.integers(len(imgs))]
            y = rng.integers(0, img.shape[0] - crop + 1)
            x = rng.integers(0, img.shape[1] - crop + 1)
            batch.append(img[y:y + crop, x:x + crop])
        if per_step > 1:
            learner.solve(np.stack(batch, axis=-1), dimK=1)
        else:
            learner.solve(batch[0])
        steps += 1
    d = learner.getdict().squeeze()  # (k, k, M)
    return np.transpose(d, (2, 0, 1)), steps, time.perf_counter() - t0


def heldout_objective(d_mkk, image, lmbda, iters):
    """Objective per pixel of `image` coded by ConvBPDN (filters normalised,
    circular boundary), its active fraction and ADMM iterations."""
    from sporco.admm import cbpdn
    d = d_mkk / np.linalg.norm(d_mkk.reshape(len(d_mkk), -1), axis=1)[:, None, None]
    d = np.transpose(d, (1, 2, 0)).astype(np.float64)
    opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": iters, "RelStopTol": 1e-4,
                                  "AutoRho": {"Enabled": True}, "RelaxParam": 1.8})
    b = cbpdn.ConvBPDN(d, image, lmbda, opt)
    x = b.solve()
    rec = b.reconstruct().squeeze()
    obj = 0.5 * np.sum((image - rec) ** 2) + lmbda * np.sum(np.abs(x))
    return obj / image.size, float(np.mean(x != 0)), b.k


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="/work/shared/data/images")
    ap.add_argument("--atoms", type=int, default=32)
    ap.add_argument("--k", type=int, default=12)
    ap.add_argument("--lca-steps", type=int, default=0,
                    help="lca's --steps (0: its default)")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="lca's --max-seconds (0: none, its default step count ends the run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sporco-per-step", type=int, default=1,
                    help="crops per SPORCO step (its example: one image per step)")
    ap.add_argument("--score-iters", type=int, default=1000)
    ap.add_argument("--score-size", type=int, default=256,
                    help="side of the centre crop of each held-out image scored (0: whole image)")
    ap.add_argument("--work", default="/tmp/compare_conv_learning")
    args = ap.parse_args()
    files = sorted(p for p in glob.glob(os.path.join(args.images, "*"))
                   if p.lower().endswith(EXTENSIONS))
    os.makedirs(args.work, exist_ok=True)
    out = os.path.join(args.work, "lca_out")
    subprocess.run(["rm", "-rf", out], check=True)
    d_lca, summary, config, wall_lca = run_lca(args, out)
    conv = config["conv"]
    n_held = conv["heldout_images"]
    train, held = files[:-n_held], files[-n_held:]
    assert conv["highpass"] == 5.0, "the script high-passes as --highpass 5"
    lmbda = conv["lambda"]
    print(f"lca: {summary['steps']} steps in {wall_lca:.1f} s; SPORCO trains on "
          f"{[os.path.basename(f) for f in train]} for as long; held out "
          f"{[os.path.basename(f) for f in held]}", file=sys.stderr)
    d_sp, steps_sp, wall_sp = run_sporco(args, train, lmbda, conv["crop"],
                                         args.sporco_per_step, wall_lca)
    sp_path = os.path.join(args.work, "sporco_dictionary.npy")
    np.save(sp_path, d_sp.reshape(len(d_sp), -1).astype(np.float32))
    subprocess.run([os.path.join(ROOT, "target/release/lca"), "plot", "atoms", sp_path,
                    "-o", os.path.join(args.work, "sporco_atoms.png")], check=True)
    res = {"lambda": lmbda, "sporco_crops_per_step": args.sporco_per_step,
           "lca_crops_per_step": conv["images_per_step"], "atoms": args.atoms, "k": args.k,
           "train": [os.path.basename(f) for f in train],
           "heldout": [os.path.basename(f) for f in held],
           "lca": {"steps": summary["steps"], "wall_seconds": wall_lca,
                   "training_seconds": summary["seconds"],
                   "own_heldout_energy_centre_crops": summary["heldout_energy"],
                   "atoms_png": os.path.join(out, "atoms.png")},
           "sporco": {"steps": steps_sp, "wall_seconds": wall_sp,
                      "atoms_png": os.path.join(args.work, "sporco_atoms.png")}}
    # Each (dictionary, image) pair is scored in its own process (ConvBPDN is
    # mostly single-threaded numpy; on a shared machine this also takes a fair
    # share of the CPU per pair).
    jobs = {}
    with ProcessPoolExecutor(max_workers=2 * len(held)) as pool:
        for f in held:
            x = highpass(grey01(f))  # high-passed whole, then cropped (as lca does)
            if args.score_size:
                y0 = max(0, (x.shape[0] - args.score_size) // 2)
                x0 = max(0, (x.shape[1] - args.score_size) // 2)
                x = x[y0:y0 + args.score_size, x0:x0 + args.score_size]
            name = os.path.basename(f)
            res.setdefault("zero_codes", {})[name] = 0.5 * np.sum(x ** 2) / x.size
            for who, d in [("lca", d_lca), ("sporco", d_sp)]:
                jobs[(who, name)] = pool.submit(heldout_objective, d, x, lmbda, args.score_iters)
        for (who, name), job in jobs.items():
            obj, frac, iters = job.result()
            res[who].setdefault("heldout", {})[name] = {
                "objective_per_pixel": obj, "active_fraction": frac, "admm_iterations": iters}
            print(f"{who} {name}: {obj:.4e}/pixel ({iters} iterations)", file=sys.stderr)
    for who in ("lca", "sporco"):
        res[who]["heldout_mean"] = float(np.mean(
            [v["objective_per_pixel"] for v in res[who]["heldout"].values()]))
    res["ratio_lca_over_sporco"] = res["lca"]["heldout_mean"] / res["sporco"]["heldout_mean"]
    print(json.dumps(res, indent=2))
    json.dump(res, open(os.path.join(args.work, "result.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
