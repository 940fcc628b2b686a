#!/usr/bin/env python3
"""Dictionary-learning acceptance benchmark: `lca learn` against SPAMS `trainDL` at equal wall time.

Requirements: Python >= 3.10, numpy, scipy, scikit-learn, pillow, spams (`pip install spams-bin`,
import name `spams`); matplotlib is optional (objective-vs-seconds PNG); the lca binary
(`cargo build --release` -> target/release/lca).

    python3 scripts/compare_learning.py [--steps 250,500,1000,2000,4000] [--threads 2] \
        [--variant NAME='FLAGS' ...] [--no-default-variants] [--markdown] [--json] [--out out/learning]

Criterion checked (issue): with 8x8 patches, `--remove-mean --unit-norm`, 128 atoms, lam = 0.1,
the mean LASSO objective (exact solver) on held-out natural-image patches, for the dictionary
`lca learn` produced, is no worse than what SPAMS `trainDL` reaches in the same wall time on the
same training images; a dictionary of random training patches is the floor.

Protocol
--------
* Images (default /work/shared/data/images). lca's development images (embedded in the
  binary) are camera, chelsea, coffee; none of them is used here.
  Training: the top 75% of the rows (--holdout-fraction 0.25) of astronaut and rocket, saved
  losslessly as PNG in a temporary folder that both `lca learn` and SPAMS read.
  Held-out test (--n-test 10000 patches): 60% from grass, gravel, brick (other images, never
  trained on) and 40% (--region-share) from the held-out bottom 25% of astronaut and rocket
  (same kind of image, pixels never trained on). Objectives are reported over all held-out
  patches and per group ("images", "regions").
* Preprocessing, identical for every method and for the test patches: grayscale by Rec. 709
  luminance 0.2126 R + 0.7152 G + 0.0722 B of the 8-bit values / 255 (what lca's image crate
  `to_luma32f` does), P x P patches, mean removed, patches with norm < --min-norm (0.1) after
  mean removal skipped as flat, the rest scaled to unit L2 norm. Training patch positions are
  uniform over all valid positions of all images (images weighted by area, as in lca);
  test patches come from lasso_common.sample_patches (uniform over images, then position).
  The floor dictionary and the test set use their own seeded random streams.
* Objective (per patch, float64): 1/2 ||x - D^T a||^2 + lam ||a||_1 with D (n_atoms, n_features)
  rows renormalised to unit L2 norm. Solved exactly by SPAMS `lasso(mode=2, lambda1=lam)`
  (LARS; mode=2 is exactly this objective, see compare_lasso.py), cross-checked against
  scikit-learn `sparse_encode(lasso_cd)` on --verify-n patches. Reported: mean objective and
  mean number of active atoms over the held-out patches.
* lca: for each budget, one run from scratch, `lca learn TRAIN --patch-size 8 --atoms 128
  --lambda 0.1 --steps N --batch-size 256 --seed S --remove-mean --unit-norm --threads T
  --quiet --json --output DIR`. Time = wall clock of the whole process (start-up, image
  decoding, patch sampling, learning, writing dictionary.npy / pngs / csv); the JSON "seconds"
  (learning loop only) is reported too. With a fixed seed and a constant learning rate the
  shorter runs are prefixes of the longer ones.
* SPAMS: right after each lca run, one run from scratch, `trainDL(X, K=128, lambda1=0.1,
  mode=2, numThreads=T, batchsize=256, iter=N, posD=False, modeD=0)` (mode=2 is
  min_D 1/n sum_i 1/2||x_i - D a_i||^2 + lambda1 ||a_i||_1, the same objective; lambda2 keeps
  SPAMS's default 1e-9; modeD=0 is ||d_j|| <= 1). N is chosen from SPAMS's measured speed so
  that its total time matches the lca run's wall time (the last one 15% more, so that the
  last lca point is bracketed); a first short run (--spams-calib-iters) calibrates the speed
  and is a point of the curve too, as are a few more short runs (--spams-extra-iters).
  Time = decoding the training PNGs + luminance + patch extraction (min(N*256, --spams-pool)
  patches; SPAMS cycles over them) + the trainDL call.
  Every SPAMS run draws the same patch stream (fixed seed, fixed-size draws), so, like the
  fixed-seed lca runs, shorter runs are prefixes of longer ones and the curve is not blurred
  by run-to-run sampling noise. Not timed: Python/numpy/spams imports and evaluation.
  OMP_WAIT_POLICY=PASSIVE is set (unless already set): on a loaded 2-core machine GOMP's
  default spin-waiting makes SPAMS with 2 threads ~7x slower than with 1.
* Equal-time comparison: SPAMS's held-out objective at lca's wall time is interpolated
  (linear in log seconds) between SPAMS's measured points. lca passes a budget when its
  objective is <= SPAMS's there. The same comparison at equal CPU time (user + sys of the
  lca process; process_time() of the SPAMS part) is reported too: it is less sensitive to
  other load on the machine.
* Floor: --atoms random training patches (same preprocessing) as the dictionary.
* Optional lca flag variants (--variant NAME='FLAGS'), run at --variant-steps budgets, are
  reported in the same table; the default variants (DEFAULT_VARIANTS) are the best recipes
  of a short sweep of learning rate / batch size / lambda schedules.
* Thread pools (OMP/BLAS/rayon) are pinned to --threads for everyone. lca runs from a private
  copy of the binary, so a rebuild of target/release during the benchmark cannot mix versions.

Timings are noisy when other work shares the machine; the load average (os.getloadavg)
is recorded before and after every run and printed.

Output: a table on stdout (or --markdown: a section ready for BENCHMARKS.md; --json: one
JSON object), OUT/results.json, OUT/objective_vs_seconds.png (if matplotlib is installed),
and each run's dictionary under OUT/.

Exit status: 0 ok (whatever the verdict); 1 lca missing or failing; 2 --require-pass given and
lca lost at some budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
REPO_ROOT = HERE.parent

# Short sweep of lca learn flags, each run at --variant-steps (name, flags).
DEFAULT_VARIANTS = (
    ("lr 4 -> 0.4", "--learning-rate 4 --learning-rate-final 0.4"),
    ("batch 128, lr 4 -> 0.4", "--batch-size 128 --learning-rate 4 --learning-rate-final 0.4"),
    ("batch 128, lr 4 -> 0.4, lam 0.2 -> 0.1",
     "--batch-size 128 --learning-rate 4 --learning-rate-final 0.4 --lambda 0.2 --lambda-final 0.1"),
)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Held-out LASSO objective of dictionaries from `lca learn` vs SPAMS trainDL at equal wall time.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--lca", default="target/release/lca", help="lca binary (cwd, then repo root)")
    ap.add_argument("--images", type=Path, default=Path("/work/shared/data/images"))
    ap.add_argument("--train-images", default="astronaut,rocket", help="comma-separated image names to learn from")
    ap.add_argument("--test-images", default="grass,gravel,brick", help="comma-separated held-out image names")
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--atoms", type=int, default=128)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=256, help="minibatch size for lca and SPAMS")
    ap.add_argument("--min-norm", type=float, default=0.1, help="flat-patch threshold (norm after mean removal)")
    ap.add_argument("--steps", default="250,500,1000,2000,4000", help="lca --steps budgets (comma-separated)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="threads for every method")
    ap.add_argument("--n-test", type=int, default=10000, help="held-out patches")
    ap.add_argument("--holdout-fraction", type=float, default=0.25,
                    help="bottom fraction of each training image's rows kept out of training (0: none)")
    ap.add_argument("--region-share", type=float, default=0.4,
                    help="share of the held-out patches taken from those held-out regions")
    ap.add_argument("--verify-n", type=int, default=300, help="patches for the SPAMS-vs-sklearn exactness check")
    ap.add_argument("--spams-pool", type=int, default=262144, help="max patches extracted per SPAMS run")
    ap.add_argument("--spams-calib-iters", type=int, default=50, help="first SPAMS run (speed calibration)")
    ap.add_argument("--spams-extra-iters", default="100,200",
                    help="further short SPAMS runs (iterations, comma-separated) for a denser curve")
    ap.add_argument("--skip-spams", action="store_true")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                    help="extra lca learn run(s): name=flags, e.g. 'lr2=--learning-rate 2'")
    ap.add_argument("--no-default-variants", action="store_true", help="do not run the built-in flag sweep")
    ap.add_argument("--variant-steps", default="250,500,2000", help="lca --steps budgets for the variants")
    ap.add_argument("--lca-args", default="", help="extra flags for every lca learn run (one string)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "learning")
    ap.add_argument("--markdown", action="store_true", help="print a markdown section for BENCHMARKS.md")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    ap.add_argument("--require-pass", action="store_true", help="exit 2 if lca loses at some budget")
    args = ap.parse_args(argv)
    split = lambda s: [t.strip() for t in s.split(",") if t.strip()]  # noqa: E731
    args.train_list = split(args.train_images)
    args.test_list = split(args.test_images)
    args.steps_list = [int(s) for s in split(args.steps)]
    args.variant_steps_list = [int(s) for s in split(args.variant_steps)]
    args.spams_extra_list = [int(s) for s in split(args.spams_extra_iters)]
    variants = [] if args.no_default_variants else list(DEFAULT_VARIANTS)
    for v in args.variant:
        if "=" not in v:
            ap.error(f"--variant expects NAME=FLAGS, got {v!r}")
        name, flags = v.split("=", 1)
        variants.append((name.strip(), flags.strip()))
    args.variants = variants
    if set(args.train_list) & set(args.test_list):
        ap.error(f"train and test images overlap: {sorted(set(args.train_list) & set(args.test_list))}")
    if args.threads < 1 or not args.steps_list:
        ap.error("--threads >= 1 and at least one --steps budget required")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    from compare_lasso import _json_safe, parse_summary, resolve_lca  # stdlib-only at import

    lca_bin = resolve_lca(args.lca)
    if lca_bin is None:
        print(f"error: lca binary not found at {args.lca!r} (tried cwd and {REPO_ROOT}); "
              f"build it: cargo build --release", file=sys.stderr)
        return 1

    # Pin every thread pool BEFORE numpy / spams are loaded.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    assert "numpy" not in sys.modules, "numpy imported before the thread env was set"
    import numpy as np

    import lasso_common as lc

    try:
        import spams
    except ImportError:
        print("error: spams is required (pip install spams-bin)", file=sys.stderr)
        return 1

    P, K, lam, B = args.patch, args.atoms, float(args.lam), args.batch_size
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    ncpu = os.cpu_count()

    # ---------------------------------------------------------------- images & patches
    w709 = np.array([0.2126, 0.7152, 0.0722])

    def load_luma(path: Path) -> np.ndarray:
        """Grayscale in [0, 1] the way lca loads it (Rec. 709 luminance of the 8-bit values)."""
        from PIL import Image

        with Image.open(path) as im:
            if im.mode in ("L", "I;16", "I", "F"):
                a = np.asarray(im, dtype=np.float64)
                return a / (65535.0 if im.mode.startswith("I") else 255.0)
            a = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
        return a @ w709

    train_paths = [lc.find_image(args.images, s) for s in args.train_list]
    test_paths = [lc.find_image(args.images, s) for s in args.test_list]

    def sample_train(images, n, rng) -> np.ndarray:
        """n preprocessed patches (n, P*P), positions uniform over all images' valid positions.

        Candidates are drawn in fixed-size chunks, so the first n patches for a given rng state
        do not depend on n: the SPAMS runs of increasing length see the same patch stream.
        """
        sizes = np.array([(im.shape[0] - P + 1) * (im.shape[1] - P + 1) for im in images], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        flats = [np.ascontiguousarray(im).ravel() for im in images]
        out_ = np.empty((n, P * P))
        got = 0
        while got < n:
            m = 8192
            r = rng.integers(0, starts[-1], size=m)
            k = np.searchsorted(starts, r, side="right") - 1
            ps = np.empty((m, P * P))
            for i, im in enumerate(images):
                sel = np.flatnonzero(k == i)
                if sel.size == 0:
                    continue
                off = r[sel] - starts[i]
                nx = im.shape[1] - P + 1
                y, x = off // nx, off % nx
                rel = (np.arange(P)[:, None] * im.shape[1] + np.arange(P)[None, :]).ravel()
                ps[sel] = flats[i][(y * im.shape[1] + x)[:, None] + rel[None, :]]
            ps -= ps.mean(axis=1, keepdims=True)
            nr = np.linalg.norm(ps, axis=1)
            keep = nr >= args.min_norm
            ps = ps[keep] / nr[keep, None]
            take = min(len(ps), n - got)
            out_[got:got + take] = ps[:take]
            got += take
        return out_

    # Training folder (given to lca and read back, timed, by SPAMS): the top (1 - f) of each training
    # image's rows, saved losslessly as PNG; the bottom f is held out. f = 0: symlinks to the originals.
    from PIL import Image

    tmp = tempfile.TemporaryDirectory(prefix="lca_learn_train_")
    train_dir = Path(tmp.name)
    frac = float(args.holdout_fraction)
    region_imgs = []
    train_files = []
    for p in train_paths:
        if frac <= 0:
            dst = train_dir / p.name
            dst.symlink_to(p.resolve())
        else:
            dst = train_dir / (p.stem + ".png")
            with Image.open(p) as im:
                im.load()
                cut = int(round(im.height * (1.0 - frac)))
                im.crop((0, 0, im.width, cut)).save(dst)
            region_imgs.append(load_luma(p)[cut:])
        train_files.append(dst)

    ss_test, ss_floor, ss_spams, ss_region = np.random.SeedSequence(args.seed).spawn(4)
    test_imgs = [load_luma(p) for p in test_paths]
    n_reg = int(round(args.n_test * args.region_share)) if region_imgs else 0
    groups = {"images": lc.sample_patches(test_imgs, P, args.n_test - n_reg, np.random.default_rng(ss_test),
                                          args.min_norm / P)}
    if n_reg:
        groups["regions"] = lc.sample_patches(region_imgs, P, n_reg, np.random.default_rng(ss_region),
                                              args.min_norm / P)
    Xtest = np.concatenate(list(groups.values()))
    group_slices, o = {}, 0
    for g, Xg in groups.items():
        group_slices[g] = slice(o, o + len(Xg))
        o += len(Xg)
    test_desc = f"{len(groups['images'])} from {', '.join(p.name for p in test_paths)}"
    if n_reg:
        test_desc += (f" + {n_reg} from the held-out bottom {frac:.0%} of "
                      f"{', '.join(p.name for p in train_paths)}")
    log(f"[learn] held-out {P}x{P} patches: {test_desc}")

    # ---------------------------------------------------------------- evaluation
    verify: dict = {}

    def evaluate(D: np.ndarray, name: str, check: bool = False) -> dict:
        D = np.asarray(D, dtype=np.float64)
        if not np.all(np.isfinite(D)):
            raise ValueError(f"{name}: dictionary has non-finite entries")
        nrm = np.linalg.norm(D, axis=1)
        Dn = D.copy()
        Dn[nrm > 0] /= nrm[nrm > 0, None]
        A, dt = lc.solve_spams(Xtest, Dn, lam, args.threads, False)
        obj = lc.objectives(Xtest, Dn, A, lam)
        res = {
            "mean_objective": float(obj.mean()),
            **{f"objective_{g}": float(obj[sl].mean()) for g, sl in group_slices.items()},
            "sem_objective": float(obj.std(ddof=1) / math.sqrt(len(obj))),
            "mean_active": float((A != 0).sum(axis=1).mean()),
            "min_atom_norm": float(nrm.min()),
            "unused_atoms": int(((A != 0).sum(axis=0) == 0).sum()),
            "eval_seconds": dt,
        }
        if check and args.verify_n > 0:
            nv = min(args.verify_n, len(Xtest))
            As, _ = lc.solve_sklearn(Xtest[:nv], Dn, lam, args.threads, False, max_iter=5000)
            os_ = lc.objectives(Xtest[:nv], Dn, As, lam)
            rel = (os_ - obj[:nv]) / obj[:nv]
            kkt = lc.kkt_violation(Xtest[:nv], Dn, A[:nv], lam)
            verify[name] = {"n": nv, "sklearn_minus_spams_rel_mean": float(rel.mean()),
                            "sklearn_minus_spams_rel_min": float(rel.min()),
                            "spams_max_kkt": float(kkt.max()),
                            "active_grad_over_lam": lc.active_gradient_ratio(Xtest[:nv], Dn, A[:nv], lam)}
            log(f"[learn] exactness check on {name}: sklearn-spams rel objective diff mean {rel.mean():.2e}, "
                f"min {rel.min():.2e}; spams max KKT {kkt.max():.2e}")
        return res

    rows: list[dict] = []

    def add_row(row: dict) -> None:
        rows.append(row)
        log(f"[learn] {row['method']:<22} {row['budget']:<14} {row['seconds']:8.2f} s  "
            f"obj {row['mean_objective']:.5f}  active {row['mean_active']:6.2f}  load {row['load']:.1f}")

    # ---------------------------------------------------------------- floor
    train_imgs = [load_luma(p) for p in train_files]
    Dfloor = sample_train(train_imgs, K, np.random.default_rng(ss_floor))
    r = evaluate(Dfloor, "floor", check=True)
    add_row({"method": "random patches (floor)", "budget": f"{K} patches", "seconds": 0.0,
             "load": os.getloadavg()[0], **r})
    del train_imgs

    # ---------------------------------------------------------------- lca
    env = dict(os.environ)
    # Run a private copy of the binary: a rebuild of target/release during the benchmark
    # (others may be running cargo) must not mix two versions of lca in one table.
    import atexit
    import hashlib
    import shutil

    lca_copy = train_dir.parent / (train_dir.name + "_lca")
    shutil.copy2(lca_bin, lca_copy)
    atexit.register(lambda: lca_copy.unlink(missing_ok=True))
    lca_sha = hashlib.sha256(lca_copy.read_bytes()).hexdigest()[:16]
    lca_mtime = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.stat(lca_bin).st_mtime))
    try:
        git_head = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
                                  capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        git_head = None
    log(f"[learn] lca binary {lca_bin} (built {lca_mtime}, sha256 {lca_sha}, repo {git_head})")

    def run_lca(steps: int, flags: str, tag: str) -> dict:
        odir = out / tag
        base = {"--patch-size": str(P), "--atoms": str(K), "--lambda": repr(lam), "--steps": str(steps),
                "--batch-size": str(B), "--seed": str(args.seed), "--min-norm": repr(args.min_norm),
                "--threads": str(args.threads)}
        extra = shlex.split(args.lca_args) + shlex.split(flags)
        for tok in extra:  # a flag given in the extra args replaces the base value
            base.pop(tok.split("=", 1)[0], None)
        cmd = [str(lca_copy), "learn", str(train_dir)] + [t for kv in base.items() for t in kv]
        cmd += ["--remove-mean", "--unit-norm", "--quiet", "--json", "--output", str(odir)] + extra
        log("[learn] " + " ".join(shlex.quote(c) for c in cmd))
        load0 = os.getloadavg()[0]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        if proc.returncode != 0:
            raise RuntimeError(f"lca exited with status {proc.returncode}\n{proc.stderr[-3000:]}")
        summ = parse_summary(proc.stdout)
        D = np.load(odir / "dictionary.npy")
        if D.shape != (K, P * P):
            raise RuntimeError(f"{odir}/dictionary.npy has shape {D.shape}, expected {(K, P * P)}")
        return {"wall": wall, "cpu": cpu, "summary": summ, "D": D, "load": max(load0, os.getloadavg()[0])}

    # ---------------------------------------------------------------- SPAMS
    spams_hist: list[tuple[int, float, int, float]] = []  # (iters, train s, patches, extract s)

    def run_spams(n_iter: int) -> dict:
        n_pool = int(min(n_iter * B, args.spams_pool))
        rng = np.random.default_rng(ss_spams)  # same stream every run: runs are prefixes of the longest
        load0 = os.getloadavg()[0]
        c0 = time.process_time()  # CPU time of this process, all threads
        t0 = time.perf_counter()
        imgs = [load_luma(p) for p in train_files]
        X = np.asfortranarray(sample_train(imgs, n_pool, rng).T)  # (n_features, n_pool)
        t1 = time.perf_counter()
        D, model = spams.trainDL(X, return_model=True, K=K, lambda1=lam, mode=2, numThreads=args.threads,
                                 batchsize=B, iter=int(n_iter), posD=False, modeD=0, verbose=False)
        t2 = time.perf_counter()
        cpu = time.process_time() - c0
        spams_hist.append((n_iter, t2 - t1, n_pool, t1 - t0))
        return {"wall": t2 - t0, "cpu": cpu, "extract": t1 - t0, "train": t2 - t1, "iters": int(model["iter"]),
                "pool": n_pool, "D": np.asarray(D).T, "load": max(load0, os.getloadavg()[0])}

    def fit_line(pts):
        """Least-squares t = a + b n with a >= 0, b > 0 (b = t/n from one point)."""
        ns = np.array([p[0] for p in pts], float)
        ts = np.array([p[1] for p in pts], float)
        if len(pts) >= 2 and np.ptp(ns) > 0:
            b, a = np.polyfit(ns, ts, 1)
            if a >= 0 and b > 0:
                return a, b
        return 0.0, float(ts.sum() / ns.sum())

    def spams_iters_for(target: float) -> int:
        """Iterations so that extraction + training take about `target` seconds (from past runs)."""
        a_t, b_t = fit_line([(h[0], h[1]) for h in spams_hist])
        a_e, b_e = fit_line([(h[2], h[3]) for h in spams_hist])
        total = lambda n: a_t + b_t * n + a_e + b_e * min(n * B, args.spams_pool)  # noqa: E731
        lo, hi = 1, 1
        while total(hi) < target and hi < 10**7:
            hi *= 2
        while hi - lo > 1:  # total() is increasing in n
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if total(mid) < target else (lo, mid)
        return hi

    def add_spams(res: dict, target: float | None, check: bool = False) -> None:
        r = evaluate(res["D"], f"spams_iter{res['iters']}", check=check)
        add_row({"method": "SPAMS trainDL", "budget": f"iter={res['iters']}", "seconds": res["wall"],
                 "cpu_seconds": res["cpu"],
                 "load": res["load"], "iters": res["iters"], "extract_seconds": res["extract"],
                 "train_seconds": res["train"], "patches": res["pool"], "target_seconds": target, **r})

    lca_runs: list[dict] = []
    if not args.skip_spams:
        res = run_spams(args.spams_calib_iters)
        add_spams(res, None)
        for n_iter in args.spams_extra_list:  # a denser SPAMS curve at short times (cheap)
            add_spams(run_spams(n_iter), None)
    for steps in sorted(args.steps_list):
        res = run_lca(steps, "", f"lca_steps{steps}")
        r = evaluate(res["D"], f"lca_steps{steps}", check=(steps == max(args.steps_list)))
        row = {"method": "lca learn", "budget": f"steps={steps}", "seconds": res["wall"],
               "cpu_seconds": res["cpu"], "load": res["load"],
               "steps": steps, "lca_seconds": res["summary"].get("seconds"),
               "train_energy": res["summary"].get("final_energy"), **r}
        add_row(row)
        lca_runs.append(row)
        if not args.skip_spams:
            # The last SPAMS run aims 15% past the last lca run so that it is bracketed.
            n_iter = spams_iters_for(res["wall"] * (1.15 if steps == max(args.steps_list) else 1.0))
            sres = run_spams(n_iter)
            add_spams(sres, res["wall"], check=(steps == max(args.steps_list)))

    # ---------------------------------------------------------------- variants
    for name, flags in args.variants:
        for steps in sorted(args.variant_steps_list):
            tag = "lca_" + "".join(c if c.isalnum() else "_" for c in name) + f"_steps{steps}"
            res = run_lca(steps, flags, tag)
            r = evaluate(res["D"], tag)
            add_row({"method": f"lca learn [{name}]", "budget": f"steps={steps}", "seconds": res["wall"],
                     "cpu_seconds": res["cpu"],
                     "load": res["load"], "steps": steps, "flags": flags,
                     "lca_seconds": res["summary"].get("seconds"),
                     "train_energy": res["summary"].get("final_energy"), **r})
    tmp.cleanup()
    lca_copy.unlink(missing_ok=True)
    load_end = os.getloadavg()

    # ---------------------------------------------------------------- equal-time verdict
    spams_rows = [r_ for r_ in rows if r_["method"] == "SPAMS trainDL"]

    def spams_at(t: float, key: str):
        """SPAMS's objective at time t (key: 'seconds' wall or 'cpu_seconds'), linear in log t."""
        sp = sorted(spams_rows, key=lambda r_: r_[key])
        if not sp:
            return None, "no SPAMS points"
        ts = [r_[key] for r_ in sp]
        os_ = [r_["mean_objective"] for r_ in sp]
        if t <= ts[0]:
            return os_[0], "below SPAMS's shortest run: its first point (in SPAMS's favour)"
        if t >= ts[-1]:
            return os_[-1], "beyond SPAMS's longest run: its last point"
        j = next(i for i in range(1, len(ts)) if ts[i] >= t)
        w = (math.log(t) - math.log(ts[j - 1])) / (math.log(ts[j]) - math.log(ts[j - 1]))
        return os_[j - 1] + w * (os_[j] - os_[j - 1]), "interpolated"

    floor_obj = rows[0]["mean_objective"]
    verdicts = []
    for r_ in rows:
        if not r_["method"].startswith("lca learn"):
            continue
        s_obj, how = spams_at(r_["seconds"], "seconds")
        if s_obj is None:
            continue
        c_obj, chow = spams_at(r_["cpu_seconds"], "cpu_seconds")
        r_["spams_at_same_time"] = s_obj
        r_["rel_vs_spams"] = (r_["mean_objective"] - s_obj) / s_obj
        r_["spams_at_same_cpu"] = c_obj
        r_["rel_vs_spams_cpu"] = (r_["mean_objective"] - c_obj) / c_obj
        if r_["method"] == "lca learn":
            verdicts.append({"steps": r_["steps"], "seconds": r_["seconds"], "cpu_seconds": r_["cpu_seconds"],
                             "lca": r_["mean_objective"], "spams": s_obj, "rel": r_["rel_vs_spams"],
                             "pass": r_["rel_vs_spams"] <= 0.0, "how": how, "spams_cpu": c_obj,
                             "rel_cpu": r_["rel_vs_spams_cpu"], "pass_cpu": r_["rel_vs_spams_cpu"] <= 0.0,
                             "how_cpu": chow})
    all_pass = all(v["pass"] for v in verdicts) if verdicts else None  # None: no SPAMS runs
    lca_rows = [r_ for r_ in rows if r_["method"].startswith("lca learn") and "rel_vs_spams" in r_]
    best = min(lca_rows, key=lambda r_: r_["rel_vs_spams"]) if lca_rows else None

    report = {
        "settings": {"patch": P, "atoms": K, "lam": lam, "batch_size": B, "min_norm": args.min_norm,
                     "seed": args.seed, "threads": args.threads, "n_test": int(Xtest.shape[0]),
                     "train_images": [p.name for p in train_paths], "test_images": [p.name for p in test_paths],
                     "holdout_fraction": frac, "test_description": test_desc,
                     "test_groups": {g: len(Xg) for g, Xg in groups.items()},
                     "spams_pool": args.spams_pool, "lca": str(lca_bin), "lca_built": lca_mtime,
                     "lca_sha256_16": lca_sha, "git": git_head, "lca_args": args.lca_args,
                     "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
        "machine": {"cpus": ncpu, "platform": platform.platform(), "load_start": load_start, "load_end": load_end,
                    "numpy": np.__version__, "spams": getattr(spams, "__version__", None)},
        "floor_objective": floor_obj,
        "rows": rows,
        "verdicts": verdicts,
        "lca_no_worse_everywhere": all_pass,
        "best_lca_vs_spams": None if best is None else {k: best.get(k) for k in (
            "method", "budget", "flags", "seconds", "mean_objective", "rel_vs_spams", "rel_vs_spams_cpu")},
        "exactness_check": verify,
    }
    (out / "results.json").write_text(json.dumps(_json_safe(report), indent=2) + "\n")

    # ---------------------------------------------------------------- plot
    png = out / "objective_vs_seconds.png"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
        for ax, key, xlabel in ((axes[0], "seconds", "wall seconds"), (axes[1], "cpu_seconds", "CPU seconds")):
            series: dict[str, list] = {}
            for r_ in rows:
                if r_["method"].startswith("random"):
                    continue
                series.setdefault(r_["method"], []).append((r_[key], r_["mean_objective"]))
            for name, pts in series.items():
                pts.sort()
                fmt, lw = {"lca learn": ("o-", 2.0), "SPAMS trainDL": ("s-", 2.0)}.get(name, ("x--", 1.0))
                ax.plot([p_[0] for p_ in pts], [p_[1] for p_ in pts], fmt, lw=lw, label=name)
            ys = [p_[1] for pts in series.values() for p_ in pts]
            lo, hi = min(ys), max(ys)
            pad = 0.08 * (hi - lo if hi > lo else abs(hi) * 0.01 + 1e-9)
            if floor_obj <= hi + 4 * pad:
                ax.axhline(floor_obj, color="gray", ls=":", label=f"random patches (floor) {floor_obj:.4f}")
            else:  # far above the curves: keep the scale readable, name it in the legend
                ax.plot([], [], color="gray", ls=":", label=f"random patches (floor) {floor_obj:.4f}, off scale")
                ax.set_ylim(lo - pad, hi + pad)
            ax.set_xscale("log")
            ax.set_xlabel(f"{xlabel} ({args.threads} threads, load {load_start[0]:.1f}-{load_end[0]:.1f})")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel(f"mean held-out objective (lam={lam})")
        axes[1].legend(fontsize=7)
        held = "+".join(args.test_list) + (f" + bottom {frac:.0%} of the training images" if frac > 0 else "")
        fig.suptitle(f"{P}x{P} patches, {K} atoms, lam={lam}: train {'+'.join(args.train_list)}"
                     f"{f' (top {1 - frac:.0%})' if frac > 0 else ''}; held-out {held}", fontsize=10)
        fig.tight_layout()
        fig.savefig(png, dpi=120)
        plt.close(fig)
        log(f"[learn] wrote {png}")
    except ImportError:
        png = None
        log("[learn] matplotlib not installed: no PNG")

    # ---------------------------------------------------------------- printing
    if args.json:
        print(json.dumps(_json_safe(report), indent=2))
    elif args.markdown:
        print(render_markdown(report, args, png))
    else:
        print(render_text(report))
    if args.require_pass and all_pass is not True:
        return 2
    return 0


def _pct(v) -> str:
    return "" if v is None else f"{100 * v:+.2f}%"


def _num(v, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) else ""


def _floor_line(rep: dict) -> str:
    f = rep["floor_objective"]
    parts = []
    for name in ("lca learn", "SPAMS trainDL"):
        rs = [r for r in rep["rows"] if r["method"] == name]
        if rs:
            last = max(rs, key=lambda r: r["seconds"])
            parts.append(f"{name} ({last['budget']}) {last['mean_objective']:.5f}, "
                         f"{100 * (f - last['mean_objective']) / f:.1f}% below it")
    return f"Floor (random training patches as atoms): {f:.5f}" + ("; " + "; ".join(parts) if parts else "") + "."


def _verdict_lines(rep: dict) -> list[str]:
    lines = []
    for v in rep["verdicts"]:
        lines.append(f"steps={v['steps']}: {v['seconds']:.2f} s wall, lca {v['lca']:.5f} vs SPAMS {v['spams']:.5f} "
                     f"({_pct(v['rel'])}, {'no worse' if v['pass'] else 'WORSE'}; {v['how']}); "
                     f"at equal CPU time ({v['cpu_seconds']:.2f} s) SPAMS {v['spams_cpu']:.5f} ({_pct(v['rel_cpu'])})")
    return lines


def render_text(rep: dict) -> str:
    s = rep["settings"]
    m = rep["machine"]
    lines = [
        f"Dictionary learning, {s['patch']}x{s['patch']} patches, {s['atoms']} atoms, lam={s['lam']}, "
        f"{s['threads']} threads; train {'+'.join(s['train_images'])} (top {1 - s['holdout_fraction']:.0%} of rows); "
        f"held-out patches: {s['test_description']}; load avg {m['load_start'][0]:.2f} -> {m['load_end'][0]:.2f} on {m['cpus']} CPUs",
        f"{'method':<28}{'budget':>13}{'wall s':>8}{'cpu s':>8}{'lca s':>8}{'objective':>10}{'images':>9}"
        f"{'regions':>9}{'active':>8}{'vs SPAMS':>10}{'(cpu)':>9}{'load':>6}",
    ]
    lines.append("-" * len(lines[-1]))
    for r in rep["rows"]:
        lines.append(f"{r['method']:<28}{r['budget']:>13}{r['seconds']:>8.2f}{_num(r.get('cpu_seconds'), '.2f'):>8}"
                     f"{_num(r.get('lca_seconds'), '.2f'):>8}{r['mean_objective']:>10.5f}"
                     f"{_num(r.get('objective_images'), '.5f'):>9}{_num(r.get('objective_regions'), '.5f'):>9}"
                     f"{r['mean_active']:>8.2f}"
                     f"{_pct(r.get('rel_vs_spams')):>10}{_pct(r.get('rel_vs_spams_cpu')):>9}{r['load']:>6.1f}")
    lines += [
        "",
        "objective: mean held-out objective (images / regions: over the held-out images / regions only); "
        "wall s: wall clock (lca: whole process; SPAMS: image decoding + patch extraction + trainDL); cpu s: CPU "
        "time (user+sys) of the same; lca s: lca's own JSON seconds (learning loop); vs SPAMS: lca's objective "
        "relative to SPAMS's, interpolated at the same wall (cpu) time, negative = lca better. Standard error of "
        f"each mean objective ~{rep['rows'][0]['sem_objective']:.5f} (same held-out patches for all, so "
        "differences are far more precise).",
    ]
    lines += _verdict_lines(rep)
    lines.append(_floor_line(rep))
    if rep["lca_no_worse_everywhere"] is not None:
        lines.append(f"lca no worse than SPAMS at every budget (wall time): {rep['lca_no_worse_everywhere']}")
    b = rep.get("best_lca_vs_spams")
    if b:
        lines.append(f"best lca run vs SPAMS at equal wall time: {b['method']} {b['budget']} "
                     f"({_pct(b['rel_vs_spams'])})")
    for k, v in rep["exactness_check"].items():
        lines.append(f"exact solver check ({k}, {v['n']} patches): sklearn - spams relative objective mean "
                     f"{v['sklearn_minus_spams_rel_mean']:.1e}, min {v['sklearn_minus_spams_rel_min']:.1e}; "
                     f"spams max KKT violation {v['spams_max_kkt']:.1e}; |g_active|/lam {v['active_grad_over_lam']:.4f}")
    return "\n".join(lines)


def render_markdown(rep: dict, args, png) -> str:
    s = rep["settings"]
    m = rep["machine"]
    out = [
        "## Dictionary learning: `lca learn` vs SPAMS `trainDL` at equal wall time",
        "",
        f"`python3 scripts/compare_learning.py --markdown`: {s['patch']}×{s['patch']} patches, "
        f"`--remove-mean --unit-norm`, {s['atoms']} atoms, λ = {s['lam']}, batch {s['batch_size']}, "
        f"{s['threads']} threads for everyone, seed {s['seed']}. Learned on the top "
        f"{1 - s['holdout_fraction']:.0%} of the rows of {', '.join(s['train_images'])}; evaluated on held-out "
        f"patches: {s['test_description']} (lca's development images camera, chelsea, coffee are not used). "
        f"Objective: mean over the held-out patches of ½‖x − Dᵀa‖² + λ‖a‖₁, solved exactly (SPAMS `lasso` "
        f"mode=2, cross-checked with scikit-learn). Wall seconds: lca = the whole `lca learn` process; SPAMS = "
        f"image decoding + patch extraction + `trainDL` (mode=2, modeD=0, batchsize {s['batch_size']}, one run "
        f"from scratch per budget, sized to the lca run before it). CPU seconds: user + sys of the same. "
        f"Machine: {m['cpus']} CPUs shared with other work, load average {m['load_start'][0]:.1f} → "
        f"{m['load_end'][0]:.1f}: timings are noisy. lca binary built {s['lca_built']} (repo at {s['git']}).",
        "",
        "| method | budget | wall s | CPU s | mean held-out objective | held-out images | held-out regions "
        "| mean active atoms | vs SPAMS, same wall time | same CPU time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rep["rows"]:
        out.append(f"| {r['method']} | {r['budget']} | {r['seconds']:.2f} | {_num(r.get('cpu_seconds'), '.2f')} | "
                   f"{r['mean_objective']:.5f} | {_num(r.get('objective_images'), '.5f')} | "
                   f"{_num(r.get('objective_regions'), '.5f')} | {r['mean_active']:.2f} | {_pct(r.get('rel_vs_spams'))} | "
                   f"{_pct(r.get('rel_vs_spams_cpu'))} |")
    out += [
        "",
        "\"vs SPAMS\": lca's objective relative to SPAMS's, interpolated (linear in log seconds) at the same "
        "time; negative means lca is better.",
        "",
    ]
    out += ["- " + line for line in _verdict_lines(rep)]
    npass = sum(v["pass"] for v in rep["verdicts"])
    out.append("")
    if rep["verdicts"]:
        out.append(f"Verdict: lca no worse than SPAMS at equal wall time at {npass}/{len(rep['verdicts'])} budgets"
                   + (" — criterion met." if rep["lca_no_worse_everywhere"] else " — criterion NOT met."))
    b = rep.get("best_lca_vs_spams")
    if b:
        out.append(f"Best lca run relative to SPAMS at equal wall time: {b['method']}, {b['budget']} "
                   f"({_pct(b['rel_vs_spams'])}).")
    out.append(_floor_line(rep))
    if png:
        p = Path(png)
        try:
            p = p.relative_to(REPO_ROOT)
        except ValueError:
            pass
        out += ["", f"![held-out objective vs seconds]({p})"]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
