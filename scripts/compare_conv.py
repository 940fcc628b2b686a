#!/usr/bin/env python3
"""Convolutional sparse coding: `lca encode` against SCICO's ADMM and SPORCO's ConvBPDN (issue 29).

Problem: a 256x256 grey natural image in [0, 1] (box-resized so the shorter side is 256, centre
crop), high-passed with sporco.signal.tikhonov_filter(img, 5, 16), SPORCO's dictionary
G:12x12x36 (filters normalised), lambda = 0.05, circular boundary. Images: astronaut (the
problem lca was developed on) and camera and coffee (not developed on); gravel and rocket are
the held-out images of conv learning.

Per image: a reference optimum (the lower of SPORCO after --ref-iters iterations and lca at
--tol 1e-5); for each relative gap (1e-2, 1e-3, 1e-4) every solver gets what it needs and no
more: SCICO (ADMM, FBlockCircularConvolveSolver, relaxation 1.8, f32) its best rho of a grid and
exactly the iterations that rho needs (found from untimed runs recording the objective of its
sparse variable z each iteration), timed around solve() after a JIT warm-up on the same object,
statistics off; SPORCO ConvBPDN (its defaults, f64) exactly the iterations it needs, timed with
FastSolve, set-up included; lca the loosest KKT tolerance (of a list) whose codes reach the gap,
timed as the whole `lca encode` process (read, solve, write). Then the timings alternate
solvers in rounds, best of --repeats. Also checks the reconstruction contract
(scipy.signal.convolve2d, mode='same', boundary='wrap') on lca's codes.

Usage: python3 scripts/compare_conv.py [--images NAME,...] [--repeats 3] [--out DIR]
Needs `cargo build --release --bin lca` and a Python with sporco, scico
(jax, CPU), pyfftw, scipy and pillow, e.g.
  python3 -m venv /work/venv-scico && /work/venv-scico/bin/pip install scico sporco pyfftw pillow scipy
Every solver gets the machine's 2 cores (RAYON_NUM_THREADS=2 for lca; SPORCO's pyfftw and
JAX's XLA thread pool use the cores they find).
"""
import argparse, json, os, subprocess, sys, time
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "target", "release", "lca")
IMAGE_DIR = "/work/shared/data/images"


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


def scico_solver(D, x, lmbda, rho, iters):
    """SCICO's ADMM for `iters` iterations: (solver, operator). Statistics off."""
    import jax.numpy as jnp
    from scico import functional, linop, loss
    from scico.optimize.admm import ADMM, FBlockCircularConvolveSolver
    H, W = x.shape
    h = jnp.asarray(np.transpose(D, (2, 0, 1)), dtype=jnp.float32)
    C = linop.CircularConvolve(h, input_shape=(D.shape[2], H, W), ndims=2, input_dtype=jnp.float32)
    A = linop.Sum(input_shape=C.output_shape, axis=0) @ C
    y = jnp.asarray(x, dtype=jnp.float32)
    f = loss.SquaredL2Loss(y=y, A=A)
    solver = ADMM(f=f, g_list=[lmbda * functional.L1Norm()], C_list=[linop.Identity(A.input_shape)],
                  rho_list=[rho], alpha=1.8, maxiter=iters,
                  subproblem_solver=FBlockCircularConvolveSolver(),
                  itstat_options={"fields": {}, "itstat_func": lambda _: (), "display": False})
    return solver, A, y


def scico_reset(solver):
    import jax.numpy as jnp
    solver.x = jnp.zeros(solver.x.shape, solver.x.dtype)
    solver.z_list = [jnp.zeros(z.shape, z.dtype) for z in solver.z_list]
    solver.z_list_old = [z for z in solver.z_list]
    solver.u_list = [jnp.zeros(u.shape, u.dtype) for u in solver.u_list]
    solver.itnum = 0


def scico_curve(D, x, lmbda, rho, iters, ref, stop_gap):
    """Objective of SCICO's sparse variable z after each iteration (untimed), up to `iters`
    or the first at gap <= stop_gap."""
    import jax
    import jax.numpy as jnp
    solver, A, y = scico_solver(D, x, lmbda, rho, 1)
    obj = jax.jit(lambda z: 0.5 * jnp.sum((A(z) - y) ** 2) + lmbda * jnp.sum(jnp.abs(z)))
    objs = []
    for _ in range(iters):
        solver.solve()
        objs.append(float(obj(solver.z_list[0])))
        if (objs[-1] - ref) / ref <= stop_gap:
            break
    return objs


def time_scico(D, x, lmbda, rho, iters):
    solver, _, _ = scico_solver(D, x, lmbda, rho, 1)
    solver.solve()  # JIT warm-up (one iteration compiles every step), same object
    scico_reset(solver)
    solver.maxiter = iters
    t = time.perf_counter()
    z = solver.solve()
    z.block_until_ready()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", default="astronaut,camera,coffee")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lmbda", type=float, default=0.05)
    ap.add_argument("--gaps", default="1e-2,1e-3,1e-4")
    ap.add_argument("--rhos", default="1,2,3,5", help="SCICO's rho grid")
    ap.add_argument("--ref-iters", type=int, default=300)
    ap.add_argument("--tols", default="2e-2,1e-2,7e-3,5e-3,3e-3,2e-3,1.5e-3,1e-3,7e-4,5e-4,3e-4,2e-4,1e-4",
                    help="lca KKT tolerances tried, loosest first")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "compare_conv"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    lm = a.lmbda
    gaps = [float(g) for g in a.gaps.split(",")]
    rhos = [float(r) for r in a.rhos.split(",")]
    tols = a.tols.split(",")
    print(f"load: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    report = {}
    for name in a.images.split(","):
        path = next(os.path.join(IMAGE_DIR, f) for f in sorted(os.listdir(IMAGE_DIR))
                    if os.path.splitext(f)[0] == name)
        x, D = problem(path)
        dict_npy = os.path.join(a.out, "G12x12x36.npy")
        img_npy = os.path.join(a.out, f"{name}.npy")
        codes_npy = os.path.join(a.out, f"{name}_codes.npy")
        # lca layout: (n_filters, 1, k, k); coefficient (y, x) puts tap o=(k-1)//2 on its pixel,
        # so lca's maps are SPORCO's rolled by o: the objective is the same.
        np.save(dict_npy, np.ascontiguousarray(np.transpose(D, (2, 0, 1))[:, None]))
        np.save(img_npy, x)
        # Reference optimum, and SPORCO's iterations to each gap (its statistics).
        _, sp_objs, _ = run_sporco(D, x, lm, a.ref_iters)
        tight = run_cli(dict_npy, img_npy, codes_npy, lm, ["--tol", "1e-5", "--max-iters", "5000"])[1]
        ref = min(float(sp_objs[-1]), tight["objective"])
        print(f"{name}: reference {ref:.6f} (SPORCO {a.ref_iters} it {float(sp_objs[-1]):.6f}, lca tol 1e-5"
              f" {tight['objective']:.6f}, {tight['iterations'][0]} steps)", flush=True)
        from scipy.signal import convolve2d
        A = np.load(codes_npy)
        rec = sum(convolve2d(A[m], D[:, :, m], mode="same", boundary="wrap") for m in range(A.shape[0]))
        obj_scipy = 0.5 * np.sum((x - rec) ** 2) + lm * np.abs(A).sum()
        print(f"  contract: objective via scipy convolve2d {obj_scipy:.6f} vs lca {tight['objective']:.6f}")
        sp_iters = {g: first_index(sp_objs, ref, g) for g in gaps}
        # SCICO: iterations to each gap for every rho; the best rho per gap.
        curves = {}
        for rho in rhos:
            o = scico_curve(D, x, lm, rho, 400, ref, min(gaps))
            curves[rho] = o
            print(f"  SCICO rho {rho}: " + ", ".join(
                f"gap {g:.0e} at {(first_index(o, ref, g) or -2) + 1}" for g in gaps), flush=True)
        sc_best = {}
        for g in gaps:
            cands = [(first_index(o, ref, g), rho) for rho, o in curves.items()]
            cands = [(i + 1, rho) for i, rho in cands if i is not None]
            sc_best[g] = min(cands) if cands else None
        # lca: the loosest tolerance reaching each gap.
        lca_tol = {}
        for tol in tols:
            _, summ = run_cli(dict_npy, img_npy, codes_npy, lm, ["--tol", tol])
            gap = (summ["objective"] - ref) / ref
            for g in gaps:
                if g not in lca_tol and gap <= g:
                    lca_tol[g] = (tol, summ["iterations"][0], gap)
            if len(lca_tol) == len(gaps):
                break
        times = {g: {"scico": [], "sporco": [], "lca": []} for g in gaps}
        for rep in range(a.repeats):
            for g in gaps:
                if sc_best[g]:
                    times[g]["scico"].append(time_scico(D, x, lm, sc_best[g][1], sc_best[g][0]))
                if sp_iters[g] is not None:
                    times[g]["sporco"].append(float(run_sporco(D, x, lm, sp_iters[g] + 1, fast=True)[0][0]))
                if g in lca_tol:
                    times[g]["lca"].append(run_cli(dict_npy, img_npy, codes_npy, lm, ["--tol", lca_tol[g][0]])[0])
        rows = []
        for g in gaps:
            best = {k: (min(v) if v else float("nan")) for k, v in times[g].items()}
            rows.append({"gap": g, "scico_s": best["scico"], "scico_rho": sc_best[g] and sc_best[g][1],
                         "scico_iters": sc_best[g] and sc_best[g][0], "sporco_s": best["sporco"],
                         "sporco_iters": None if sp_iters[g] is None else sp_iters[g] + 1,
                         "lca_s": best["lca"], "lca_tol": lca_tol.get(g, (None,))[0],
                         "lca_steps": lca_tol.get(g, (None, None))[1],
                         "lca_gap": lca_tol.get(g, (None, None, None))[2],
                         "scico_over_lca": best["scico"] / best["lca"],
                         "sporco_over_lca": best["sporco"] / best["lca"]})
        report[name] = {"reference": ref, "rows": rows}
    print(f"load: {open('/proc/loadavg').read().split()[:3]}")
    print(f"\n| image | gap | SCICO ADMM (rho, it) | SPORCO ConvBPDN (it) | lca encode (tol, steps) |"
          f" SCICO / lca | SPORCO / lca |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in report.items():
        for row in r["rows"]:
            print(f"| {name} | {row['gap']:.0e} | {row['scico_s']:.2f} s ({row['scico_rho']}, {row['scico_iters']})"
                  f" | {row['sporco_s']:.2f} s ({row['sporco_iters']}) | {row['lca_s']:.3f} s ({row['lca_tol']},"
                  f" {row['lca_steps']}) | {row['scico_over_lca']:.1f} | {row['sporco_over_lca']:.1f} |")
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
