"""Shared helpers for the LASSO comparison scripts (lasso_problem.py, compare_lasso.py).

Requirements: Python >= 3.10, numpy, scipy, scikit-learn, pillow (`pip install pillow`),
and for the exact peer solver spams (`pip install spams-bin`, import name `spams`).

Problem convention used everywhere (per sample, float64):

    obj(a) = 1/2 * ||x - D^T a||_2^2 + lam * ||a||_1        (optionally a >= 0)

with D of shape (n_atoms, n_features), rows of unit L2 norm (scikit-learn
``components_`` layout), x one row of X (n_samples, n_features) and a one row of
A (n_samples, n_atoms).

IMPORTANT: thread-count environment variables (OMP_NUM_THREADS, ...) only take
effect if they are set before numpy is first imported. Call
``set_thread_env(n)`` *before* importing this module if you care (compare_lasso.py
does).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def set_thread_env(n: int) -> None:
    """Pin BLAS/OpenMP thread pools to ``n`` threads (call before importing numpy)."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n)


import numpy as np  # noqa: E402  (intentionally after set_thread_env is defined)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IMAGE_DIR = Path("/work/shared/data/images")
DEFAULT_TRAIN = ("camera", "astronaut", "coffee", "chelsea")
DEFAULT_TEST = ("rocket", "grass", "gravel", "brick")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# Bump when the generation procedure changes so stale caches are rebuilt.
PROBLEM_FORMAT_VERSION = 1


def default_problem_dir(patch: int, atoms: int, n: int, seed: int) -> Path:
    return REPO_ROOT / "out" / "lasso" / f"p{patch}_a{atoms}_n{n}_s{seed}"


# ----------------------------------------------------------------------------
# Images and patches
# ----------------------------------------------------------------------------


def find_image(image_dir: Path, name: str) -> Path:
    """Resolve an image by stem (``camera``) or file name (``camera.png``)."""
    p = image_dir / name
    if p.is_file():
        return p
    for ext in IMAGE_EXTS:
        q = image_dir / (name + ext)
        if q.is_file():
            return q
    avail = sorted(f.stem for f in image_dir.iterdir() if f.suffix.lower() in IMAGE_EXTS)
    raise FileNotFoundError(f"image {name!r} not found in {image_dir} (available: {', '.join(avail)})")


def load_gray(path: Path) -> np.ndarray:
    """Load an image as float64 grayscale in [0, 1]."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover
        raise SystemExit("Pillow is required: pip install pillow") from e
    with Image.open(path) as im:
        g = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    return g


def sample_patches(
    images: list[np.ndarray],
    patch: int,
    n: int,
    rng: np.random.Generator,
    min_rms: float,
) -> np.ndarray:
    """Draw ``n`` random patch x patch patches (uniform over images, then position).

    Each patch is mean-removed and scaled to unit L2 norm. Patches whose
    mean-removed L2 norm is below ``min_rms * patch`` (i.e. per-pixel RMS
    contrast below ``min_rms``) are skipped (flat sky, saturated regions).
    Returns float64 (n, patch*patch).
    """
    for im in images:
        if im.shape[0] < patch or im.shape[1] < patch:
            raise ValueError(f"image of shape {im.shape} smaller than patch {patch}")
    thresh = min_rms * patch  # ||p||_2 = rms * sqrt(patch*patch)
    out = np.empty((n, patch * patch), dtype=np.float64)
    filled = 0
    attempts = 0
    while filled < n:
        m = max(1024, 2 * (n - filled))
        attempts += m
        if attempts > 200 * n + 100000:
            raise RuntimeError("too many low-contrast patches; lower --min-rms")
        idx = rng.integers(len(images), size=m)
        u = rng.random(m)
        v = rng.random(m)
        for k in range(m):
            im = images[idx[k]]
            i = int(u[k] * (im.shape[0] - patch + 1))
            j = int(v[k] * (im.shape[1] - patch + 1))
            p = im[i : i + patch, j : j + patch].ravel()
            p = p - p.mean()
            nrm = np.linalg.norm(p)
            if nrm < thresh:
                continue
            out[filled] = p / nrm
            filled += 1
            if filled == n:
                break
    return out


# ----------------------------------------------------------------------------
# Problem generation (with cache)
# ----------------------------------------------------------------------------


def learn_dictionary(
    Xtrain: np.ndarray, atoms: int, alpha: float, batch_size: int, seed: int
) -> np.ndarray:
    """MiniBatchDictionaryLearning, one pass over Xtrain (=> len/batch_size minibatch steps)."""
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.exceptions import ConvergenceWarning

    dl = MiniBatchDictionaryLearning(
        n_components=atoms,
        alpha=alpha,
        batch_size=batch_size,
        max_iter=1,  # one epoch over the (large) training set
        fit_algorithm="cd",  # ~5x faster than lars here, same dictionaries
        transform_algorithm="lasso_cd",
        tol=0.0,
        max_no_improvement=None,
        shuffle=True,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dl.fit(Xtrain)
    D = np.asarray(dl.components_, dtype=np.float64)
    nrm = np.linalg.norm(D, axis=1, keepdims=True)
    # Unused atoms can come back (near) zero: replace by a random unit vector.
    dead = nrm[:, 0] < 1e-8
    if dead.any():
        r = np.random.default_rng(seed + 12345).standard_normal((int(dead.sum()), D.shape[1]))
        r -= r.mean(axis=1, keepdims=True)
        D[dead] = r
        nrm = np.linalg.norm(D, axis=1, keepdims=True)
    return D / nrm


def problem_settings(
    patch: int,
    atoms: int,
    n: int,
    seed: int,
    image_dir: Path,
    train: list[str],
    test: list[str],
    min_rms: float,
    dl_alpha: float,
    dl_steps: int,
    dl_batch: int,
) -> dict:
    return {
        "version": PROBLEM_FORMAT_VERSION,
        "patch": patch,
        "atoms": atoms,
        "n": n,
        "seed": seed,
        "images": str(Path(image_dir).resolve()),
        "train_images": list(train),
        "test_images": list(test),
        "min_rms": min_rms,
        "dl_alpha": dl_alpha,
        "dl_steps": dl_steps,
        "dl_batch": dl_batch,
    }


def make_problem(
    out: Path,
    patch: int = 8,
    atoms: int = 128,
    n: int = 10000,
    seed: int = 0,
    image_dir: Path = DEFAULT_IMAGE_DIR,
    train: list[str] | tuple[str, ...] = DEFAULT_TRAIN,
    test: list[str] | tuple[str, ...] = DEFAULT_TEST,
    min_rms: float = 0.01,
    dl_alpha: float = 0.1,
    dl_steps: int = 400,
    dl_batch: int = 256,
    force: bool = False,
    log=print,
) -> tuple[Path, Path, dict]:
    """Build (or reuse) DIR/D.npy, DIR/X.npy, DIR/settings.json. Returns (D path, X path, info)."""
    out = Path(out)
    image_dir = Path(image_dir)
    settings = problem_settings(
        patch, atoms, n, seed, image_dir, list(train), list(test), min_rms, dl_alpha, dl_steps, dl_batch
    )
    dpath, xpath, spath = out / "D.npy", out / "X.npy", out / "settings.json"
    if not force and dpath.is_file() and xpath.is_file() and spath.is_file():
        try:
            cached = json.loads(spath.read_text())
        except (OSError, json.JSONDecodeError):
            cached = None
        if cached is not None and cached.get("settings") == settings:
            log(f"[problem] reusing cached problem in {out}")
            return dpath, xpath, cached
        log(f"[problem] settings changed, regenerating {out}")

    if set(train) & set(test):
        log(f"[problem] WARNING: train and test images overlap: {sorted(set(train) & set(test))}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train_imgs = [load_gray(find_image(image_dir, s)) for s in train]
    test_imgs = [load_gray(find_image(image_dir, s)) for s in test]
    # Independent, reproducible streams for the training and the test patches.
    ss_train, ss_test = np.random.SeedSequence(seed).spawn(2)
    n_train = dl_steps * dl_batch
    Xtr = sample_patches(train_imgs, patch, n_train, np.random.default_rng(ss_train), min_rms)
    X = sample_patches(test_imgs, patch, n, np.random.default_rng(ss_test), min_rms)
    t1 = time.perf_counter()
    log(
        f"[problem] sampled {n_train} train + {n} test {patch}x{patch} patches in {t1 - t0:.1f}s; "
        f"learning {atoms} atoms ({dl_steps} minibatch steps of {dl_batch}, alpha={dl_alpha}) ..."
    )
    D = learn_dictionary(Xtr, atoms, dl_alpha, dl_batch, seed)
    t2 = time.perf_counter()
    log(f"[problem] dictionary learned in {t2 - t1:.1f}s")

    # Write atomically-ish: data first, settings last (the settings file marks completeness).
    if spath.exists():
        spath.unlink()
    np.save(dpath, D.astype(np.float32))
    np.save(xpath, np.ascontiguousarray(X, dtype=np.float32))
    info = {
        "settings": settings,
        "n_features": patch * patch,
        "generation_seconds": round(t2 - t0, 3),
        "dictionary_seconds": round(t2 - t1, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    spath.write_text(json.dumps(info, indent=2) + "\n")
    log(f"[problem] wrote {dpath} {D.shape} and {xpath} {X.shape} (total {t2 - t0:.1f}s)")
    return dpath, xpath, info


def add_problem_args(ap, with_out: bool = True) -> None:
    """Arguments shared by lasso_problem.py and compare_lasso.py."""
    ap.add_argument("--patch", type=int, default=8, help="patch side P (n_features = P*P)")
    ap.add_argument("--atoms", type=int, default=128, help="number of dictionary atoms")
    ap.add_argument("--n", type=int, default=10000, help="number of test signals")
    ap.add_argument("--seed", type=int, default=0)
    if with_out:
        ap.add_argument("--out", type=Path, default=None,
                        help="problem directory (default: out/lasso/p{P}_a{K}_n{N}_s{seed})")
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGE_DIR, help="image directory")
    ap.add_argument("--train-images", default=",".join(DEFAULT_TRAIN),
                    help="comma-separated image names for dictionary learning")
    ap.add_argument("--test-images", default=",".join(DEFAULT_TEST),
                    help="comma-separated image names for the signals X (held out)")
    ap.add_argument("--min-rms", type=float, default=0.01,
                    help="skip patches whose mean-removed per-pixel RMS is below this (image in [0,1])")
    ap.add_argument("--dl-alpha", type=float, default=0.1, help="MiniBatchDictionaryLearning alpha")
    ap.add_argument("--dl-steps", type=int, default=400,
                    help="dictionary-learning minibatch steps (training patches = steps * batch)")
    ap.add_argument("--dl-batch", type=int, default=256, help="dictionary-learning batch size")
    ap.add_argument("--force", action="store_true", help="regenerate even if a matching cache exists")


def problem_from_args(args, log=print):
    out = args.out if args.out is not None else default_problem_dir(args.patch, args.atoms, args.n, args.seed)
    split = lambda s: [t.strip() for t in s.split(",") if t.strip()]  # noqa: E731
    return make_problem(
        out,
        patch=args.patch,
        atoms=args.atoms,
        n=args.n,
        seed=args.seed,
        image_dir=args.images,
        train=split(args.train_images),
        test=split(args.test_images),
        min_rms=args.min_rms,
        dl_alpha=args.dl_alpha,
        dl_steps=args.dl_steps,
        dl_batch=args.dl_batch,
        force=args.force,
        log=log,
    )


# ----------------------------------------------------------------------------
# Objective / optimality
# ----------------------------------------------------------------------------


def objectives(X: np.ndarray, D: np.ndarray, A: np.ndarray, lam: float) -> np.ndarray:
    """Per-sample 1/2||x - D^T a||^2 + lam ||a||_1 in float64."""
    X = np.asarray(X, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    R = X - A @ D
    return 0.5 * np.einsum("ij,ij->i", R, R) + lam * np.abs(A).sum(axis=1)


def kkt_violation(X, D, A, lam: float, nonneg: bool = False) -> np.ndarray:
    """Per-sample max KKT violation (absolute, same units as lam).

    With g = D (x - D^T a) (negative gradient of the smooth part):
      a_i != 0 : g_i = lam * sign(a_i)      -> |g_i - lam sign(a_i)|
      a_i == 0 : |g_i| <= lam  (nonneg: g_i <= lam) -> max(0, |g_i| - lam)
    """
    X = np.asarray(X, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    G = (X - A @ D) @ D.T
    active = A != 0
    v_act = np.where(active, np.abs(G - lam * np.sign(A)), 0.0)
    if nonneg:
        v_in = np.where(active, 0.0, np.maximum(G - lam, 0.0))
        v_act = np.where(A < 0, np.inf, v_act)  # negative entries are infeasible
    else:
        v_in = np.where(active, 0.0, np.maximum(np.abs(G) - lam, 0.0))
    return np.maximum(v_act.max(axis=1), v_in.max(axis=1))


def active_gradient_ratio(X, D, A, lam: float) -> float:
    """median |g_i| / lam over active coefficients; 1.0 confirms the solver uses penalty lam."""
    G = (np.asarray(X, np.float64) - np.asarray(A, np.float64) @ np.asarray(D, np.float64)) @ np.asarray(
        D, np.float64
    ).T
    act = np.asarray(A) != 0
    if not act.any():
        return float("nan")
    return float(np.median(np.abs(G[act])) / lam)


# ----------------------------------------------------------------------------
# Exact peer solvers
# ----------------------------------------------------------------------------


def solve_spams(X, D, lam: float, threads: int, nonneg: bool, dtype=np.float64):
    """SPAMS LARS/homotopy, mode=2: min 1/2||x - D a||^2 + lambda1 ||a||_1 (lambda1 = lam, not lam^2).

    Returns (A dense (n_samples, n_atoms) float64, seconds of the spams.lasso call only).
    """
    import spams

    Xf = np.asfortranarray(np.asarray(X, dtype=dtype).T)  # (n_features, n_samples)
    Df = np.asfortranarray(np.asarray(D, dtype=dtype).T)  # (n_features, n_atoms)
    t0 = time.perf_counter()
    S = spams.lasso(Xf, D=Df, lambda1=float(lam), lambda2=0.0, mode=2, pos=bool(nonneg), numThreads=int(threads))
    dt = time.perf_counter() - t0
    A = np.asarray(S.toarray(), dtype=np.float64).T
    return A, dt


def solve_sklearn(X, D, lam: float, threads: int, nonneg: bool, max_iter: int = 1000, dtype=np.float64):
    """scikit-learn sparse_encode(lasso_cd).

    sparse_encode passes alpha = regularization / n_features to Lasso, whose objective
    is 1/(2 n_features) ||x - D^T a||^2 + alpha ||a||_1; multiplying by n_features gives
    exactly 1/2||x - D^T a||^2 + regularization ||a||_1, so alpha=lam needs no rescaling
    (verified numerically: |g_i| = lam on the active set).
    """
    from sklearn.decomposition import sparse_encode
    from sklearn.exceptions import ConvergenceWarning

    Xd = np.ascontiguousarray(np.asarray(X, dtype=dtype))
    Dd = np.ascontiguousarray(np.asarray(D, dtype=dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        A = sparse_encode(
            Xd,
            Dd,
            algorithm="lasso_cd",
            alpha=float(lam),
            max_iter=max_iter,
            n_jobs=int(threads) if threads > 1 else None,
            positive=bool(nonneg),
        )
        dt = time.perf_counter() - t0
    return np.asarray(A, dtype=np.float64), dt
