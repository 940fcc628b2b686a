#!/usr/bin/env python3
"""1-D convolutional sparse coding and learning: `lca` against alphacsc (issue 25).

Signal: assets/speech_like_16k.wav (4 s, 16 kHz, scripts/make_audio_clip.py) split into
segments of --seg-len samples, as signals (N, 1, T). Problem: alphacsc's, non-negative
convolutional LASSO (alphacsc's coders and learners only have non-negative codes),
    min_z  sum_n 0.5 ||x_n - sum_m d_m * z_nm||^2 + lambda sum |z|,  z >= 0,
λ = --lambda-frac × λ_max of the coding problem (absolute value printed and passed on).
alphacsc's model is 'valid': T - k + 1 codes per atom, every kernel inside the segment. lca's
zero boundary has T codes per atom, k - 1 of them kernels cut by the segment's edges, so its
optimum is lower. alphacsc's univariate coders also solve lca's problem exactly: each segment
padded with k - 1 zeros and those samples given weight 0 (`sample_weights`), the
'-zero' contenders. Each coder's gap is against the optimum of the problem it solves, both
computed here (FISTA with adaptive restart in float64, polished by an active-set solve on its
support, certified by a duality gap).

Coding (default): a fixed dictionary, --atoms gammatone kernels of --kernel samples (centre
frequencies ERB-spaced 200 Hz – 6 kHz, 4 phases each, unit norm), the first --code-segments
segments. For each relative gap (default 1e-3) every coder gets what it needs and no more:
  alphacsc l-bfgs: update_z(solver='l-bfgs') (learn_d_z's z-step), the loosest factr reaching
      the gap;
  alphacsc fista: update_z(solver='fista'), exactly the iterations needed (per-iteration
      objectives of each segment from an untimed run);
  alphacsc lgcd: update_z_multi(solver='lgcd') (BatchCDL's z-step), the loosest tol;
  alphacsc l-bfgs / fista, zero boundary: the same on lca's problem (padding, zero weights);
  lca: `lca encode --dims 1 --nonneg --boundary zero`, the loosest --tol whose codes reach the
      gap, or with --tols default its default settings, timed as the whole process (read,
      solve, write).
alphacsc runs with --alphacsc-jobs workers (joblib over segments; best over the list). Timings
alternate contenders in rounds, best of --repeats; wall time, and CPU time where it is known
(alphacsc with one worker: this process; lca: the child process, both threads), which a busy
shared machine distorts less.

Learning (--learn SECONDS): the first --train-segments segments train, the rest are held out.
alphacsc learn_d_z (l-bfgs z-step, update_d d-step: see learn_alphacsc) and BatchCDL (lgcd z-step,
rank-1 atoms, which with one channel is the full model; lmbd_max='fixed'; one worker, with
lgcd's numpy-2 failure patched: see patch_lgcd_for_numpy2)
run with a callback that keeps the dictionary of the last iteration finished within SECONDS
(then stops them); `lca learn --conv --dims 1 --max-seconds SECONDS` on the training segments
as a folder of 16-bit .wav files (lossless: the clip is 16-bit). Each dictionary is normalised
to unit-norm atoms and scored by the exact held-out objective per sample (FISTA and an active-set
polish, on the held-out segments, in both models). Rounds alternate contenders, best of
--repeats.

The lca side needs `lca encode/learn --dims 1` (issue 25); with a binary that refuses --dims it
is skipped with a message and the alphacsc side still runs.

Usage: [LCA_BIN=target/release/lca] python3 scripts/compare_conv1d.py [--gaps 1e-3] [--repeats 3]
           [--out DIR] [--plan DIR/coding.json]
       python3 scripts/compare_conv1d.py --learn 60 [--repeats 3]
Needs `cargo build --release --bin lca` and a Python with alphacsc, e.g.
  python3 -m venv /work/venv-alphacsc && /work/venv-alphacsc/bin/pip install alphacsc
lca gets RAYON_NUM_THREADS=2 (the machine's 2 cores).
"""
import argparse, json, os, resource, shutil, subprocess, sys, time, wave

# alphacsc's coders work on short vectors, where a threaded BLAS only spins (and on a busy
# machine slows them several-fold); its joblib workers get one thread each too (loky's rule).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.environ.get("LCA_BIN", os.path.join(ROOT, "target", "release", "lca"))
CLIP = os.path.join(ROOT, "assets", "speech_like_16k.wav")
RATE = 16000


def read_clip(path):
    """Mono 16-bit .wav as float64 in [-1, 1)."""
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        return np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768.0


def write_wav16(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes())


def segments(x, seg_len):
    n = len(x) // seg_len
    return x[:n * seg_len].reshape(n, 1, seg_len)


def gammatones(atoms, k, fmin=200.0, fmax=6000.0):
    """(atoms, 1, k) unit-norm 4th-order gammatones: atoms/4 ERB-spaced frequencies × 4 phases."""
    nf = atoms // 4
    erb = lambda f: 21.4 * np.log10(1 + 0.00437 * f)
    inv = lambda e: (10 ** (e / 21.4) - 1) / 0.00437
    freqs = inv(np.linspace(erb(fmin), erb(fmax), nf))
    t = np.arange(k) / RATE
    out = []
    for f in freqs:
        b = 1.019 * 24.7 * (4.37e-3 * f + 1)
        env = t ** 3 * np.exp(-2 * np.pi * b * t) * np.hanning(2 * k)[k:] ** 0.5
        for ph in (0, 0.5, 1, 1.5):
            g = env * np.cos(2 * np.pi * f * t + ph * np.pi)
            out.append(g / np.linalg.norm(g))
    return np.asarray(out)[:, None, :]


class Model:
    """Convolution of codes (N, M, L) with kernels (M, 1, k) read on T samples: 'valid'
    (alphacsc: L = T - k + 1, offset 0) or 'same' (lca's zero boundary: L = T, code t puts
    tap (k-1)//2 on sample t, scipy.signal.convolve(z, d, 'same')). FFT-based, float64."""

    def __init__(self, D, T, kind):
        self.M, _, self.k = D.shape
        self.T, self.kind = T, kind
        self.L = T - self.k + 1 if kind == "valid" else T
        self.off = 0 if kind == "valid" else (self.k - 1) // 2
        self.n = int(2 ** np.ceil(np.log2(self.L + self.k - 1)))
        self.Df = np.fft.rfft(D[:, 0, :].astype(np.float64), self.n)
        # ||A||^2 <= sup_w sum_m |D_m(w)|^2 (a dense grid of w, with a margin).
        fine = np.fft.rfft(D[:, 0, :].astype(np.float64), 64 * self.k)
        self.lip = 1.02 * float(np.max(np.sum(np.abs(fine) ** 2, axis=0)))

    def forward(self, Z):
        full = np.fft.irfft(np.einsum("nmf,mf->nf", np.fft.rfft(Z, self.n), self.Df), self.n)
        return full[:, self.off:self.off + self.T]

    def adjoint(self, R):
        rp = np.zeros((R.shape[0], self.n))
        rp[:, self.off:self.off + self.T] = R
        g = np.fft.irfft(np.fft.rfft(rp)[:, None, :] * np.conj(self.Df)[None], self.n)
        return g[:, :, :self.L]

    def objective(self, X, Z, lam):
        r = X[:, 0, :] - self.forward(Z)
        return 0.5 * float(np.sum(r * r)) + lam * float(np.sum(np.abs(Z)))


def fista(model, X, lam, max_iter=20000):
    """Non-negative LASSO to rounding precision: FISTA with adaptive restart (O'Donoghue &
    Candès) to a relative duality gap of 1e-3, 1e-4, ... each time polished by an active-set
    solve on its support, until the polished codes' duality gap is below 1e-10:
    (Z, primal, relative duality gap)."""
    x = X[:, 0, :].astype(np.float64)
    Z = np.zeros((X.shape[0], model.M, model.L))
    Y, t, step = Z.copy(), 1.0, 1.0 / model.lip
    tol, it = 1e-3, 0
    while True:
        for it in range(it, max_iter):
            G = model.adjoint(model.forward(Y) - x)
            Zn = np.maximum(Y - step * (G + lam), 0.0)
            if np.sum((Y - Zn) * (Zn - Z)) > 0:  # restart: momentum points uphill
                t, Y = 1.0, Z.copy()
                continue
            tn = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
            Y = Zn + ((t - 1) / tn) * (Zn - Z)
            Z, t = Zn, tn
            if it % 50 == 49:
                p, d = primal_dual(model, x, Z, lam)
                if (p - d) / p <= tol:
                    break
        P = polish(model, x, Z, lam)
        p, d = primal_dual(model, x, P, lam)
        if (p - d) / p <= 1e-10 or it >= max_iter - 1 or tol < 1e-7:
            return P, p, (p - d) / p
        tol /= 10


def polish(model, x, Z, lam, rounds=200):
    """Active-set refinement (Lawson-Hanson style), segment by segment: solve the LASSO's
    stationarity equations on the support (kernel columns built explicitly), step from the
    current point towards that solution only as far as codes stay non-negative (dropping
    those that reach zero), add coordinates whose correlation with the residual exceeds λ.
    Returns the better of Z and the refined codes."""
    k, T, off = model.k, model.T, model.off
    D = np.fft.irfft(model.Df, model.n)[:, :k]

    def column(m, t):
        col = np.zeros(T)
        lo, hi = t - off, t - off + k
        col[max(lo, 0):min(hi, T)] = D[m, max(0, -lo):k - max(0, hi - T)]
        return col

    out = Z.copy()
    for n in range(Z.shape[0]):
        cur = {tuple(i): Z[n][tuple(i)] for i in np.argwhere(Z[n] > 0)}
        for _ in range(rounds):
            idx = sorted(cur)
            A = np.stack([column(m, t) for m, t in idx], axis=1) if idx else np.zeros((T, 0))
            z = np.linalg.lstsq(A.T @ A, A.T @ x[n] - lam, rcond=None)[0]
            zc = np.array([cur[i] for i in idx])
            if np.any(z <= 0):
                neg = z <= 0
                alpha = np.min(zc[neg] / (zc[neg] - z[neg]))
                z = zc + alpha * (z - zc)
                cur = {i: v for i, v in zip(idx, z) if v > 1e-14}
                continue
            cur = dict(zip(idx, z))
            cand = np.zeros_like(out[n])
            for i, v in cur.items():
                cand[i] = v
            g = model.adjoint((x[n] - model.forward(cand[None])[0])[None])[0]
            viol = np.argwhere(g > lam * (1 + 1e-10))
            out[n] = cand
            if len(viol) == 0:
                break
            for v in viol[np.argsort(-g[tuple(viol.T)])][:8]:
                cur[tuple(v)] = 0.0
    p_old = primal_dual(model, x, Z, lam)[0]
    return out if primal_dual(model, x, out, lam)[0] <= p_old else Z


def primal_dual(model, x, Z, lam):
    """Primal objective and the dual objective of the scaled residual (feasible: A^T nu <= lam)."""
    r = x - model.forward(Z)
    s = float(np.max(model.adjoint(r)))
    nu = r * min(1.0, lam / s) if s > 0 else r
    primal = 0.5 * float(np.sum(r * r)) + lam * float(np.sum(Z))
    dual = float(np.sum(x * nu)) - 0.5 * float(np.sum(nu * nu))
    return primal, dual


def lca_has_dims(command):
    """None when `lca COMMAND` takes --dims, else why the lca side is skipped."""
    try:
        h = subprocess.run([CLI, command, "--help"], capture_output=True, text=True).stdout
    except OSError as e:
        return f"cannot run {CLI}: {e}"
    return None if "--dims" in h else f"{CLI} {command} has no --dims (issue 25's 1-D path)"


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_lca_encode(kernels, signals, codes, lam, tol):
    """`lca encode --dims 1`: ((wall, CPU seconds) of the whole process, summary)."""
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    stop = [] if tol == "default" else ["--tol", f"{tol:g}", "--max-iters", "100000"]
    cmd = [CLI, "encode", "-d", kernels, "-i", signals, "-o", codes, "--dims", "1",
           "--lambda", repr(lam), "--nonneg", "--boundary", "zero", *stop, "--json"]
    t, c = time.perf_counter(), child_cpu()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t, child_cpu() - c
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return (wall, cpu), json.loads(p.stdout.strip().splitlines()[-1])


# ---- alphacsc coders: each returns codes (N, M, L) ----
# X2 is (N, T'), W2 None or per-sample weights (N, T'): with zero weights on k - 1 padding
# samples (`padded`), alphacsc's univariate coders solve exactly lca's zero-boundary problem.

def padded(X, k):
    """Segments padded as lca's zero boundary sees them: (x (N, T+k-1), weights (N, T+k-1))."""
    off = (k - 1) // 2
    N, _, T = X.shape
    xp = np.zeros((N, T + k - 1))
    xp[:, off:off + T] = X[:, 0, :]
    w = np.zeros_like(xp)
    w[:, off:off + T] = 1.0
    return xp, w


def ac_lbfgs(X2, W2, D, lam, factr, jobs):
    from alphacsc.update_z import update_z
    from joblib import Parallel
    with Parallel(n_jobs=jobs) as par:
        z = update_z(X2, D[:, 0, :], lam, parallel=par, solver="l-bfgs", sample_weights=W2,
                     solver_kwargs={"factr": factr, "maxiter": 100000})
    return np.swapaxes(z, 0, 1)


def ac_fista(X2, W2, D, lam, iters, jobs):
    from alphacsc.update_z import update_z
    from joblib import Parallel
    with Parallel(n_jobs=jobs) as par:
        z = update_z(X2, D[:, 0, :], lam, parallel=par, solver="fista", sample_weights=W2,
                     solver_kwargs={"max_iter": iters, "power_iteration_tol": 1e-4})
    return np.swapaxes(z, 0, 1)


def ac_fista_curves(X2, W2, D, lam, max_iter):
    """Per-iteration objective of alphacsc's FISTA on each segment (untimed), summed."""
    from alphacsc.update_z import _update_z_idx
    total = None
    for i in range(X2.shape[0]):
        _, pobj, _ = _update_z_idx(X2, D[:, 0, :], lam, None, [i], False, solver="fista",
                                   solver_kwargs={"max_iter": max_iter}, sample_weights=W2,
                                   timing=True)
        pobj = np.asarray(pobj)
        total = pobj if total is None else total + pobj
    return total  # total[j]: objective after j iterations


def ac_lgcd(X, D, lam, tol, jobs):
    from alphacsc.update_z_multi import update_z_multi
    z, _, _ = update_z_multi(X, D, lam, solver="lgcd", solver_kwargs={"tol": tol}, n_jobs=jobs,
                             random_state=0)
    return z


def search(name, grid, gap_of, gaps, plan, steps=3):
    """For each gap, the loosest setting reaching it: the first hit on `grid` (loosest first),
    then `steps` geometric bisections between it and the miss before it. Fills plan[g][name]
    with (setting, gap reached)."""
    seen = {}

    def gap_at(setting):
        if setting not in seen:
            seen[setting] = gap_of(setting)
            print(f"  {name} {setting:.3g}: gap {seen[setting]:.2e}", flush=True)
        return seen[setting]

    for g in gaps:
        prev = None
        for setting in grid:
            if gap_at(setting) <= g:
                lo, hi = prev, setting
                for _ in range(steps if lo is not None else 0):
                    mid = float(f"{np.sqrt(lo * hi):.3g}")
                    if gap_at(mid) <= g:
                        hi = mid
                    else:
                        lo = mid
                plan[g][name] = (hi, seen[hi])
                break
            prev = setting


def coding(a, x):
    segs = segments(x, a.seg_len)[:a.code_segments]
    D = gammatones(a.atoms, a.kernel)
    models = {"valid": Model(D, a.seg_len, "valid"), "zero": Model(D, a.seg_len, "same")}
    lam_max = float(np.max(models["valid"].adjoint(segs[:, 0, :])))
    lam = a.lambda_frac * lam_max
    print(f"problem: {segs.shape[0]} segments of {a.seg_len} samples, {a.atoms} gammatones of "
          f"{a.kernel}, lambda {lam:.6g} ({a.lambda_frac} x lambda_max {lam_max:.4g}), non-negative",
          flush=True)
    t = time.perf_counter()
    ref, dgap = {}, {}
    old = None
    if a.plan:  # a previous run's references and settings (same problem): timings only
        with open(a.plan) as f:
            old = json.load(f)
        assert abs(old["lambda"] - lam) <= 1e-12 * lam, f"{a.plan}: another problem"
        ref, dgap = old["references"], old["duality_gaps"]
    for name, model in models.items():
        if name not in ref:
            _, ref[name], dgap[name] = fista(model, segs, lam)
    print(f"reference (FISTA + polish, {time.perf_counter() - t:.0f} s): alphacsc's valid model "
          f"{ref['valid']:.8f} (duality gap {dgap['valid']:.1e}), lca's zero boundary "
          f"{ref['zero']:.8f} ({dgap['zero']:.1e})", flush=True)
    gaps = [float(g) for g in a.gaps.split(",")]
    jobs = [int(j) for j in a.alphacsc_jobs.split(",")]
    rel = lambda obj, model: (obj - ref[model]) / ref[model]
    os.makedirs(a.out, exist_ok=True)
    kernels = os.path.join(a.out, "gammatones.npy")
    signals = os.path.join(a.out, "signals.npy")
    codes = os.path.join(a.out, "codes.npy")
    np.save(kernels, D.astype(np.float32))
    np.save(signals, segs.astype(np.float32))
    X2, (XP, WP) = segs[:, 0, :], padded(segs, a.kernel)

    # Contenders: (model, run(setting, jobs) -> codes, settings loosest first or None).
    contenders = {  # --coders key: (name, model, run(setting, jobs) -> codes, settings)
        "l-bfgs": ("alphacsc l-bfgs", "valid",
                   lambda s, j: ac_lbfgs(X2, None, D, lam, s, j), a.factrs),
        "fista": ("alphacsc fista", "valid",
                  lambda s, j: ac_fista(X2, None, D, lam, s, j), None),
        "lgcd": ("alphacsc lgcd", "valid", lambda s, j: ac_lgcd(segs, D, lam, s, j), a.lgcd_tols),
        "l-bfgs-zero": ("alphacsc l-bfgs, zero boundary", "zero",
                        lambda s, j: ac_lbfgs(XP, WP, D, lam, s, j), a.factrs),
        "fista-zero": ("alphacsc fista, zero boundary", "zero",
                       lambda s, j: ac_fista(XP, WP, D, lam, s, j), None),
    }
    wanted = [c.strip() for c in a.coders.split(",")]
    contenders = {c[0]: c[1:] for key, c in contenders.items() if key in wanted}
    plan = {g: {} for g in gaps}
    lca_defaults = a.tols == "default"
    for row in (old or {}).get("rows", []):
        if row["gap"] in plan and (row["coder"] in contenders
                                   or (row["coder"] == "lca encode" and not lca_defaults)):
            plan[row["gap"]][row["coder"]] = (row["setting"], row["reached"])
    for name, (model, run, settings) in contenders.items():
        if all(name in p for p in plan.values()):
            continue
        if settings is None:  # FISTA: exactly the iterations needed, from its recorded curve
            t = time.perf_counter()
            curve = (ac_fista_curves(XP, WP, D, lam, a.fista_max_iter) if model == "zero"
                     else ac_fista_curves(X2, None, D, lam, a.fista_max_iter))
            print(f"  {name}: {a.fista_max_iter} iterations recorded per segment "
                  f"({time.perf_counter() - t:.0f} s)", flush=True)
            for g in gaps:
                ok = np.nonzero(rel(curve, model) <= g)[0]
                if len(ok):
                    iters = int(ok[0])
                    plan[g][name] = (iters, rel(models[model].objective(segs, run(iters, 1), lam),
                                                model))
                print(f"  {name}: gap {g:.0e} at "
                      f"{plan[g][name][0] if name in plan[g] else '> %d' % a.fista_max_iter}"
                      " iterations", flush=True)
            continue
        gap_of = lambda setting: rel(models[model].objective(segs, run(setting, 1), lam), model)
        search(name, [float(f) for f in settings.split(",")], gap_of, gaps, plan)
    skip = lca_has_dims("encode") if "lca" in wanted else "not in --coders"
    if skip:
        print(f"  lca: skipped: {skip}", flush=True)
        for p in plan.values():
            p.pop("lca encode", None)
    elif lca_defaults:  # lca's default settings: one run, counted for every gap it reaches
        _, summ = run_lca_encode(kernels, signals, codes, lam, "default")
        obj = models["zero"].objective(segs, np.load(codes).astype(np.float64), lam)
        reached = rel(obj, "zero")
        print(f"  lca encode (defaults, schedule {summ.get('schedule')}): gap {reached:.2e}",
              flush=True)
        for g in gaps:
            if reached <= g:
                plan[g]["lca encode"] = ("default", reached)
    elif not all("lca encode" in p for p in plan.values()):
        def gap_of(tol):
            _, summ = run_lca_encode(kernels, signals, codes, lam, tol)
            obj = models["zero"].objective(segs, np.load(codes).astype(np.float64), lam)
            print(f"    (objective {obj:.6f}, lca says {summ.get('objective')})", flush=True)
            return rel(obj, "zero")
        search("lca encode", [float(t) for t in a.tols.split(",")], gap_of, gaps, plan)

    times = {g: {} for g in gaps}
    print(f"load: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    for rep in range(a.repeats):
        for g in gaps:
            for name, (setting, _) in plan[g].items():
                if name == "lca encode":
                    times[g].setdefault((name, 2), []).append(
                        run_lca_encode(kernels, signals, codes, lam, setting)[0])
                    continue
                for j in jobs:
                    # CPU time of this process only: known for one worker, not for more.
                    t, c = time.perf_counter(), time.process_time()
                    contenders[name][1](setting, j)
                    times[g].setdefault((name, j), []).append(
                        (time.perf_counter() - t, time.process_time() - c if j == 1 else None))
    print(f"load: {open('/proc/loadavg').read().split()[:3]}")
    report = {"lambda": lam, "lambda_max": lam_max, "references": ref, "duality_gaps": dgap,
              "rows": []}
    print(f"\n| gap | coder | problem | setting | gap reached | workers | wall, best of {a.repeats} |"
          " CPU, best | all wall (s) |")
    print("| --- | --- | --- | --- | --- | --- | ---: | ---: | --- |")
    for g in gaps:
        for (name, j), ts in sorted(times[g].items(), key=lambda kv: min(t[0] for t in kv[1])):
            setting, reached = plan[g][name]
            model = "zero" if name == "lca encode" else contenders[name][0]
            wall = min(t[0] for t in ts)
            cpu = min(t[1] for t in ts) if ts[0][1] is not None else None
            report["rows"].append({"gap": g, "coder": name, "problem": model, "setting": setting,
                                   "reached": reached, "workers": j, "best_wall_s": wall,
                                   "best_cpu_s": cpu, "times_s": ts})
            print(f"| {g:.0e} | {name} | {model} | {setting} | {reached:.1e} | {j} | "
                  f"{wall:.3f} s | {'-' if cpu is None else '%.3f s' % cpu} | "
                  f"{', '.join(f'{t[0]:.3f}' for t in ts)} |")
        missing = [n for n in contenders if n not in plan[g]]
        if missing:
            print(f"| {g:.0e} | did not reach the gap: {'; '.join(missing)} | | | | | | | |")
    with open(os.path.join(a.out, "coding.json"), "w") as f:
        json.dump(report, f, indent=1)


# ---- learning ----

class Budget(Exception):
    pass


def patch_lgcd_for_numpy2():
    """alphacsc 0.4.1's lgcd fails under numpy 2 once codes are warm-started (every learning
    iteration after the first): _init_beta assigns norm_Dk[k], shape (1,), to a scalar
    ("setting an array element with a sequence"). The same computation with norm_Dk[k, 0]."""
    from alphacsc.utils import coordinate_descent as cd
    from alphacsc.loss_and_gradient import gradient_zi
    if getattr(cd, "_numpy2_patched", False):
        return

    def _init_beta(Xi, z_hat, D, constants, reg, norm_Dk, tol, positive):
        beta = gradient_zi(Xi, z_hat, D=D, reg=None, return_func=False, constants=constants)
        for k, t in zip(*z_hat.nonzero()):
            beta[k, t] -= z_hat[k, t] * norm_Dk[k, 0]
        if positive:
            dz_opt = np.maximum(-beta - reg, 0) / norm_Dk - z_hat
        else:
            dz_opt = -(beta - np.clip(beta, - reg, reg)) / norm_Dk - z_hat
        return beta, dz_opt, tol * np.std(Xi)

    cd._init_beta, cd._numpy2_patched = _init_beta, True


def learn_alphacsc(kind, Xtr, a, lam, seconds):
    """alphacsc learn_d_z or BatchCDL for `seconds`: (dictionary (M, 1, k) of the last iteration
    finished in time, iterations, seconds used)."""
    # BatchCDL also calls back once before its first iteration (its initial dictionary).
    kept = {"D": None, "iters": -1 if kind == "BatchCDL" else 0, "t": 0.0}
    t0 = time.perf_counter()

    def keep(D):
        el = time.perf_counter() - t0
        if el > seconds:
            raise Budget()
        kept.update(D=np.array(D, dtype=np.float64).reshape(a.atoms, 1, a.kernel),
                    iters=kept["iters"] + 1, t=el)

    try:
        if kind == "learn_d_z":
            from alphacsc import learn_d_z
            from alphacsc.update_d import update_d
            # The default d-step, update_d_block, fails under numpy 2 in alphacsc 0.4.1
            # (solve_unit_norm_dual: "setting an array element with a sequence"); update_d
            # is its other d-step (projected gradient, unit-norm atoms).
            learn_d_z(Xtr[:, 0, :], a.atoms, a.kernel, func_d=update_d, reg=lam, n_iter=100000,
                      solver_z="l-bfgs",
                      random_state=a.seed, n_jobs=a.learn_jobs, verbose=0,
                      callback=lambda X, d, z, reg: keep(d))
        else:
            from alphacsc import BatchCDL
            from alphacsc.utils.dictionary import get_D
            patch_lgcd_for_numpy2()
            # One worker: loky's workers would import the unpatched alphacsc. With one channel
            # a rank-1 atom u v^T (|u| = 1) is the full model, and BatchCDL's default.
            cdl = BatchCDL(a.atoms, a.kernel, reg=lam, n_iter=100000, n_jobs=1,
                           solver_z="lgcd", rank1=True, lmbd_max="fixed", random_state=a.seed,
                           verbose=0)
            # BatchCDL's constructor fixes these two; fit() reads the attributes.
            cdl.callback = lambda enc, pobj: keep(
                enc.D_hat if enc.D_hat.ndim == 3 else get_D(enc.D_hat, 1))
            cdl.raise_on_increase = False
            cdl.fit(Xtr)
    except Budget:
        pass
    return kept["D"], kept["iters"], kept["t"]


def learn_lca(Xtr, a, lam, seconds, work):
    """`lca learn --conv --dims 1` on a folder of the training segments as 16-bit .wav files:
    (dictionary, summary, wall seconds)."""
    folder = os.path.join(work, "train_wav")
    if not os.path.isdir(folder):
        os.makedirs(folder)
        for i, s in enumerate(Xtr[:, 0, :]):
            write_wav16(os.path.join(folder, f"seg{i:04d}.wav"), s)
    out = os.path.join(work, "lca_learn")
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    cmd = [CLI, "learn", "--conv", "--dims", "1", folder, "--atoms", str(a.atoms), "--kernel-size",
           str(a.kernel), "--lambda", repr(lam), "--max-seconds", str(seconds), "--highpass", "0",
           "--crop", "0", "--heldout-images", "0", "--seed", str(a.seed), "-o", out, "--json",
           *a.lca_learn_args.split()]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    D = np.load(os.path.join(out, "dictionary.npy")).astype(np.float64)
    return D.reshape(a.atoms, 1, a.kernel), json.loads(p.stdout.strip().splitlines()[-1]), wall


def heldout(D, Xho, lam, T):
    """Exact held-out objective per sample, both models, atoms normalised to unit norm."""
    D = D / np.maximum(np.linalg.norm(D, axis=(1, 2), keepdims=True), 1e-12)
    n = Xho.shape[0] * T
    return {kind: fista(Model(D, T, kind), Xho, lam)[1] / n
            for kind in ("valid", "same")}


def learning(a, x):
    segs = segments(x, a.seg_len)
    Xtr, Xho = segs[:a.train_segments], segs[a.train_segments:]
    D0 = gammatones(a.atoms, a.kernel)
    lam_max = float(np.max(Model(D0, a.seg_len, "valid").adjoint(segs[:a.code_segments, 0, :])))
    lam = a.lambda_frac * lam_max
    print(f"learning: {len(Xtr)} training and {len(Xho)} held-out segments of {a.seg_len} samples,"
          f" {a.atoms} atoms of {a.kernel}, lambda {lam:.6g}, {a.learn} s each", flush=True)
    os.makedirs(a.out, exist_ok=True)
    base = heldout(D0, Xho, lam, a.seg_len)
    print(f"  held-out objective per sample with the gammatones: valid {base['valid']:.6e}, "
          f"zero boundary {base['same']:.6e}", flush=True)
    skip = lca_has_dims("learn")
    if skip:
        print(f"  lca: skipped: {skip}", flush=True)
    results = {}
    for rep in range(a.repeats):
        for kind in ("learn_d_z", "BatchCDL", "lca"):
            if kind == "lca":
                if skip:
                    continue
                D, summ, used = learn_lca(Xtr, a, lam, a.learn, a.out)
                iters = summ.get("steps_done", summ.get("steps"))
            else:
                D, iters, used = learn_alphacsc(kind, Xtr, a, lam, a.learn)
            if D is None:
                print(f"  {kind} round {rep}: no iteration finished in {a.learn} s", flush=True)
                continue
            score = heldout(D, Xho, lam, a.seg_len)
            print(f"  {kind} round {rep}: {iters} iterations in {used:.1f} s, held-out per sample "
                  f"valid {score['valid']:.6e}, zero boundary {score['same']:.6e}", flush=True)
            results.setdefault(kind, []).append({"iterations": iters, "seconds": used, **score})
            np.save(os.path.join(a.out, f"learned_{kind}_round{rep}.npy"), D.astype(np.float32))
    print(f"\n| learner | iterations in {a.learn} s | held-out objective / sample, valid (best of "
          f"{a.repeats}) | zero boundary |")
    print("| --- | ---: | ---: | ---: |")
    for kind, rs in results.items():
        best = min(rs, key=lambda r: r["valid"])
        print(f"| {kind} | {best['iterations']} | {best['valid']:.6e} | "
              f"{min(r['same'] for r in rs):.6e} |")
    with open(os.path.join(a.out, "learning.json"), "w") as f:
        json.dump({"lambda": lam, "gammatones": base, "results": results}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default=CLIP)
    ap.add_argument("--seg-len", type=int, default=2000, help="samples per segment (T)")
    ap.add_argument("--code-segments", type=int, default=8)
    ap.add_argument("--atoms", type=int, default=32)
    ap.add_argument("--kernel", type=int, default=64, help="kernel length k")
    ap.add_argument("--lambda-frac", type=float, default=0.1, help="lambda / lambda_max")
    ap.add_argument("--gaps", default="1e-3")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--alphacsc-jobs", default="1,2", help="joblib workers tried for alphacsc")
    ap.add_argument("--factrs", default="1e12,3e11,1e11,3e10,1e10,3e9,1e9,3e8,1e8,1e7,1e6,1e5",
                    help="alphacsc l-bfgs factr tried, loosest first")
    ap.add_argument("--fista-max-iter", type=int, default=2000,
                    help="alphacsc fista: iterations recorded per segment")
    ap.add_argument("--lgcd-tols", default="1e-1,3e-2,1e-2,3e-3,1e-3,3e-4,1e-4,3e-5,1e-5,3e-6,1e-6",
                    help="alphacsc lgcd tol tried, loosest first")
    ap.add_argument("--tols", default="2e-2,1e-2,5e-3,2e-3,1e-3,5e-4,2e-4,1e-4,5e-5,2e-5,1e-5",
                    help="lca KKT tolerances tried, loosest first; 'default': lca's default "
                    "settings only (no --tol), counted for the gaps they reach")
    ap.add_argument("--coders", default="l-bfgs,fista,lgcd,l-bfgs-zero,fista-zero,lca",
                    help="coding contenders (-zero: alphacsc on lca's zero-boundary problem)")
    ap.add_argument("--plan", help="coding.json of an earlier run on the same problem: reuse its "
                    "references and settings, only time")
    ap.add_argument("--learn", type=float, default=None, help="learning mode: seconds per learner")
    ap.add_argument("--train-segments", type=int, default=24)
    ap.add_argument("--learn-jobs", type=int, default=2, help="alphacsc workers while learning")
    ap.add_argument("--lca-learn-args", default="", help="extra flags for lca learn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "compare_conv1d"))
    a = ap.parse_args()
    x = read_clip(a.clip)
    print(f"load: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    if a.learn:
        learning(a, x)
    else:
        coding(a, x)


if __name__ == "__main__":
    main()
