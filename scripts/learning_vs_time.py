#!/usr/bin/env python3
"""Held-out objective against wall time: `lca learn` (both rules) vs SPAMS `trainDL` and
scikit-learn `MiniBatchDictionaryLearning`, on images lca was not developed on.

    python3 scripts/learning_vs_time.py [--config gray8|gray16|color8|all] [--budgets 5,15,30,60]
        [--methods lca,spams] [--threads 2] [--markdown] [--out out/learning_vs_time]
        [--steps 2000,8000 (fixed-step lca runs instead of budgets)] [--lca-args "..."]

Requirements: numpy, pillow, spams (`pip install spams-bin`), scikit-learn; the lca binary
(`cargo build --release`).

Protocol
* Training images (--train, default camera, chelsea, coffee, astronaut, grass: portraits, objects,
  a figure, a texture): the top --train-fraction (default 1: all) of their rows, saved as PNG in a
  temporary folder that every method reads. Held-out patches (--n-test, default 6000): from
  rocket, gravel and brick (--test), whole images never trained on and never used while developing
  lca (its defaults were tuned on camera, chelsea and coffee), drawn uniformly over their
  positions; with --train-fraction < 1, half of them come from the untrained bottom rows instead.
  (The protocol of earlier sessions: --train astronaut,rocket --test grass,gravel,brick
  --train-fraction 0.75. There the textures are unlike anything trained on, and no learner's
  held-out objective improves steadily with time.)
* Preprocessing, identical for all: Rec. 709 luminance (or RGB with --config color8, values
  pixel-interleaved) of the 8-bit values / 255, P x P patches, mean over all values removed,
  patches with norm < 0.1 skipped, the rest scaled to unit norm.
* Objective per held-out patch: 1/2 ||x - D^T a||^2 + lam ||a||_1, lam = 0.1, atoms renormalised,
  solved exactly by SPAMS lasso (mode 2); reported: mean over the held-out patches.
* lca (method `lca`): one run per budget B from scratch with its defaults and nothing else,
  `lca learn TRAIN --max-seconds B --patch-size P --atoms K --json` (plus `--color`): the run
  measures its pace and sizes the horizon of its learning-rate schedule to fill the budget;
  time = wall clock of the whole process (start-up, decoding, held-out scoring, writing every
  output). Methods `lca-hebbian` / `lca-online` pass `--rule R --lambda --seed --threads` too (the
  online rule with `--steps 0`: no step limit).
* SPAMS: `trainDL(X, K, lambda1=lam, mode=2, iter=-B, batchsize=256, numThreads=T)` (a negative
  iter is a time budget in seconds) on a pool of 400 000 pre-extracted patches; time = the
  trainDL call only (patch extraction not counted: generous to SPAMS).
* scikit-learn: `MiniBatchDictionaryLearning(K, alpha=lam, batch_size=256,
  fit_algorithm='cd')` with `partial_fit` on the same pool until the budget, dictionary
  snapshots at each budget; time = partial_fit calls only.
"""
import argparse
import warnings
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIGS = {  # name: (patch, atoms, color)
    "gray8": (8, 128, False),
    "gray16": (16, 256, False),
    "color8": (8, 128, True),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="gray8", help="gray8, gray16, color8 or all")
    ap.add_argument("--budgets", default=None, help="seconds, comma separated (default 1,2,5,10,20,30,60 for "
                    "gray8, 5,15,30 otherwise)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", default="/work/shared/data/images")
    ap.add_argument("--train", default="camera,chelsea,coffee,astronaut,grass")
    ap.add_argument("--test", default="rocket,gravel,brick")
    ap.add_argument("--train-fraction", type=float, default=1.0,
                    help="top share of each training image's rows trained on (the rest is held out)")
    ap.add_argument("--n-test", type=int, default=6000)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lca", default=str(REPO / "target/release/lca"))
    ap.add_argument("--methods", default="lca,spams", help="lca, lca-online, lca-hebbian, spams, sklearn")
    ap.add_argument("--lca-args", default="", help="extra flags for every lca run")
    ap.add_argument("--steps", default=None,
                    help="comma-separated step counts: lca runs with --steps N instead of budgets (no peers; "
                         "the result does not depend on the machine or its load)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--out", default="out/learning_vs_time")
    a = ap.parse_args()

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warnings.filterwarnings("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"
    import numpy as np
    from PIL import Image
    import spams
    from sklearn.decomposition import MiniBatchDictionaryLearning

    sys.path.insert(0, str(Path(__file__).parent))
    import lasso_common as lc

    w709 = np.array([0.2126, 0.7152, 0.0722])

    def load(path, color):
        with Image.open(path) as im:
            if color:
                return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
            if im.mode == "L":
                return np.asarray(im, dtype=np.float64) / 255.0
            return (np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0) @ w709

    def patches(imgs, P, n, rng):
        """n preprocessed patches (n, P*P*C), positions uniform over all images' positions."""
        sizes = np.array([(im.shape[0] - P + 1) * (im.shape[1] - P + 1) for im in imgs])
        starts = np.concatenate([[0], np.cumsum(sizes)])
        out, got = [], 0
        while got < n:
            r = rng.integers(0, starts[-1], size=8192)
            k = np.searchsorted(starts, r, side="right") - 1
            batch = []
            for i, im in enumerate(imgs):
                sel = r[k == i] - starts[i]
                nx = im.shape[1] - P + 1
                for y, x in zip(sel // nx, sel % nx):
                    batch.append(im[y:y + P, x:x + P].reshape(-1))
            ps = np.array(batch)
            ps -= ps.mean(axis=1, keepdims=True)
            nr = np.linalg.norm(ps, axis=1)
            ps = ps[nr >= 0.1] / nr[nr >= 0.1, None]
            out.append(ps[: n - got])
            got += len(out[-1])
        return np.concatenate(out)

    def evaluate(D, Xtest):
        D = np.asarray(D, dtype=np.float64)
        D = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
        A, _ = lc.solve_spams(Xtest, D, a.lam, a.threads, False)
        return float(lc.objectives(Xtest, D, A, a.lam).mean()), float((A != 0).sum(axis=1).mean())

    names = list(CONFIGS) if a.config == "all" else a.config.split(",")
    methods = a.methods.split(",")
    report = {}
    out_root = Path(a.out)
    out_root.mkdir(parents=True, exist_ok=True)
    for cfg in names:
        P, K, color = CONFIGS[cfg]
        budgets = [float(b) for b in (a.budgets or "5,15,30,60").split(",")]
        if a.steps:
            budgets = [int(n) for n in a.steps.split(",")]
        tmp = tempfile.TemporaryDirectory(prefix="lca_vs_time_")
        train_dir = Path(tmp.name)
        train_imgs, region_imgs = [], []
        for s in a.train.split(","):
            p = lc.find_image(Path(a.images), s)
            with Image.open(p) as im:
                im.load()
                cut = int(round(im.height * a.train_fraction))
                im.crop((0, 0, im.width, cut)).save(train_dir / (p.stem + ".png"))
            full = load(p, color)
            train_imgs.append(full[:cut])
            if cut + P <= full.shape[0]:
                region_imgs.append(full[cut:])
        test_imgs = [load(lc.find_image(Path(a.images), s), color) for s in a.test.split(",")]
        rng = np.random.default_rng(a.seed)
        n_region = a.n_test // 2 if region_imgs else 0
        Xtest = np.concatenate([patches(test_imgs, P, a.n_test - n_region, rng)]
                               + ([patches(region_imgs, P, n_region, rng)] if n_region else []))
        pool = patches(train_imgs, P, 400_000 if P <= 8 else 200_000, rng)
        res = {m: [] for m in methods}
        log = lambda *x: print(f"[{cfg}]", *x, file=sys.stderr, flush=True)  # noqa: E731
        for b in budgets:
            for rule in ("default", "online", "hebbian"):
                m = "lca" if rule == "default" else f"lca-{rule}"
                if m not in methods:
                    continue
                odir = out_root / f"{cfg}_{rule}_{b:g}"
                cmd = [a.lca, "learn", str(train_dir), *(["--steps", str(b)] if a.steps else ["--max-seconds", repr(b)]),
                       "--patch-size", str(P), "--atoms", str(K), "--json", "-o", str(odir)]
                if rule != "default":
                    cmd += ["--rule", rule, "--lambda", repr(a.lam), "--seed", str(a.seed),
                            "--threads", str(a.threads)]
                if color:
                    cmd.append("--color")
                cmd += a.lca_args.split()
                if rule == "online":
                    cmd += ["--steps", "0"]  # no step limit: the budget alone ends the run
                if odir.exists():
                    subprocess.run(["rm", "-rf", str(odir)], check=True)
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    sys.exit(proc.stderr)
                summ = json.loads(proc.stdout.strip().splitlines()[-1])
                obj, act = evaluate(np.load(odir / "dictionary.npy"), Xtest)
                res[m].append({"budget": b, "wall": wall, "objective": obj, "active": act,
                               "steps": summ["steps"], "heldout_lca": summ.get("heldout_energy"),
                               "status": summ.get("status"), "time_use": (summ.get("horizon") or {}).get("summary")})
                log(f"{m} {b:g}s: wall {wall:.2f}s steps {summ['steps']} objective {obj:.5f} "
                    f"({summ.get('status')}; {res[m][-1]['time_use']})")
            if "spams" in methods and not a.steps:
                X = np.asfortranarray(pool.T)
                t0 = time.perf_counter()
                D, model = spams.trainDL(X, return_model=True, K=K, lambda1=a.lam, mode=2, iter=-int(round(b)),
                                         batchsize=256, numThreads=a.threads, posD=False, modeD=0, verbose=False)
                wall = time.perf_counter() - t0
                obj, act = evaluate(np.asarray(D).T, Xtest)
                res["spams"].append({"budget": b, "wall": wall, "objective": obj, "active": act,
                                     "steps": int(model["iter"])})
                log(f"spams {b:g}s: wall {wall:.2f}s steps {int(model['iter'])} objective {obj:.5f}")
        if "sklearn" in methods:
            mb = MiniBatchDictionaryLearning(n_components=K, alpha=a.lam, batch_size=256, fit_algorithm="cd",
                                             random_state=a.seed)
            spent, i, todo = 0.0, 0, sorted(budgets)
            while todo:
                xb = pool[(i * 256) % len(pool):(i * 256) % len(pool) + 256]
                t0 = time.perf_counter()
                mb.partial_fit(xb)
                spent += time.perf_counter() - t0
                i += 1
                if spent >= todo[0]:
                    obj, act = evaluate(mb.components_, Xtest)
                    res["sklearn"].append({"budget": todo[0], "wall": spent, "objective": obj, "active": act,
                                           "steps": i})
                    log(f"sklearn {todo[0]:g}s: {i} steps objective {obj:.5f}")
                    todo.pop(0)
        report[cfg] = res
        tmp.cleanup()
    (out_root / "report.json").write_text(json.dumps(report, indent=1))
    for cfg, res in report.items():
        P, K, color = CONFIGS[cfg]
        print(f"\n{cfg}: {P}x{P}{'x3' if color else ''}, {K} atoms, lambda {a.lam}: mean held-out objective "
              f"(wall seconds)")
        ms = [m for m in methods if res.get(m)]
        if a.markdown:
            print("| budget s | " + " | ".join(ms) + " |")
            print("|---" * (len(ms) + 1) + "|")
        for j, b in enumerate(res[ms[0]]):
            cells = [f"{res[m][j]['objective']:.5f} ({res[m][j]['wall']:.1f} s, {res[m][j]['steps']} steps)"
                     if j < len(res[m]) else "-" for m in ms]
            if a.markdown:
                print(f"| {b['budget']:g} | " + " | ".join(cells) + " |")
            else:
                print(f"{b['budget']:>6g}  " + "  ".join(f"{m}={c}" for m, c in zip(ms, cells)))


if __name__ == "__main__":
    main()
