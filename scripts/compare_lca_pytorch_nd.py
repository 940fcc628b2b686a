#!/usr/bin/env python3
"""Convolutional LCA in 1-D and 3-D: lca against lca-pytorch's `LCAConv1D` and `LCAConv3D`
on CPU (issue 25; compare_lca_pytorch.py does `LCAConv2D`).

Problems:
  1d: compare_conv1d.py's coding problem: the first --segments segments of 2000 samples of
      assets/speech_like_16k.wav as (N, 1, 2000), 32 unit-norm gammatones of 64 taps,
      non-negative codes, λ = 0.1·λ_max of alphacsc's model (0.263906 for the 8 segments);
  3d: conv_video.py's (1, 1, 16, 64, 64) moving-pattern video and its 8 space-time Gabor
      filters (5, 7, 7), signed codes, λ = 0.1.
Conventions matched as compare_lca_pytorch.py documents for 2-D:
  * lca-pytorch's pad='same' needs odd kernels: the 64-tap gammatones become 65 taps with a
    zero first tap, so tap j of a 64-tap kernel lands on sample t + j − 31 for code t on both
    sides (lca: origin (k − 1)//2 = 31); the video's 5×7×7 filters are odd already;
  * its convolutions pad with zeros: lca runs `--boundary zero` (lca-pytorch's inhibition
    uses untruncated Gram kernels near the edges, so its fixed point there is not exactly
    the zero-boundary LASSO optimum);
  * `lambda_` is the soft threshold on the potentials with unit-norm filters, lca's λ;
    `nonneg` as above; `input_zero_mean=False, input_unit_var=False` (rescaling would change
    λ's meaning); its dynamics: τ = 100, 1000 dense iterations per forward pass by default
    (--iters N runs N instead: the objective after N and the time per iteration are reported).
Both codes are scored here the same way, in float64:
  0.5·||x − Σ_m D_m ∗ A_m||² + λ·||A||₁, the convolution zero-padded, tap j of D_m at
  offset j − (k − 1)//2 per axis (scipy.signal.fftconvolve 'full', cropped),
against the optimum of a tight lca solve (--ref-tol, 1e-5). lca: `lca encode` with its defaults
(plus --dims, --boundary zero, --nonneg for 1-D), the whole process timed. Both with 2
threads (torch.set_num_threads(2); RAYON_NUM_THREADS=2); lca best of --repeats,
lca-pytorch best of --pt-repeats. Memory: lca's is the peak resident size of its process
(/usr/bin/time); lca-pytorch's, which runs inside this script, is how much its first forward
pass raised this process's peak resident size (torch and the arrays already loaded).

Usage:
  git clone https://github.com/lanl/lca-pytorch target/lca-pytorch   # or any checkout
  pip install torch numpy scipy pandas pyyaml
  cargo build --release --bin lca
  python3 scripts/compare_lca_pytorch_nd.py [--problems 1d,3d] [--iters N] [--segments 8]
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import compare_conv1d as c1d  # noqa: E402
import conv_video  # noqa: E402

LCA = os.environ.get("LCA_BIN", os.path.join(ROOT, "target", "release", "lca"))


def objective(D, X, A, lam):
    """0.5·||x − Σ D ∗ A||² + λ||A||₁ with the zero boundary; D (M, C, *k), X (N, C, *n),
    A (N, M, *n)."""
    from scipy.signal import fftconvolve
    k = D.shape[2:]
    crop = tuple(slice((kk - 1) // 2, (kk - 1) // 2 + n) for kk, n in zip(k, X.shape[2:]))
    total = 0.0
    for x, a in zip(X.astype(np.float64), A.astype(np.float64)):
        rec = np.zeros_like(x)
        for m in range(D.shape[0]):
            if not a[m].any():
                continue
            for c in range(D.shape[1]):
                rec[c] += fftconvolve(a[m], D[m, c].astype(np.float64), mode="full")[crop]
        total += 0.5 * float(np.sum((x - rec) ** 2)) + lam * float(np.abs(a).sum())
    return total


def run_lca(d_npy, x_npy, out_npy, lam, dims, extra):
    """(wall seconds, JSON summary, codes, peak resident MiB of the process)."""
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    rss_file = out_npy + ".rss"
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file, LCA, "encode", "-d", d_npy, "-i", x_npy, "-o", out_npy, "--dims", str(dims),
           "--lambda", repr(lam), "--boundary", "zero", "--json", *extra]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode:
        sys.exit(f"{' '.join(cmd)}: {p.stderr.strip()}")
    with open(rss_file) as f:
        rss_mib = int(f.read().split()[-1]) / 1024
    return wall, json.loads(p.stdout.strip().splitlines()[-1]), np.load(out_npy), rss_mib


def problem(name, segments):
    """(D for lca, D for lca-pytorch (odd taps), X, λ, nonneg)."""
    if name == "1d":
        x = c1d.read_clip(c1d.CLIP)
        X = c1d.segments(x, 2000)[:segments]
        D = c1d.gammatones(32, 64)
        lam = 0.1 * float(np.max(c1d.Model(D, 2000, "valid").adjoint(X[:, 0, :])))
        Dpt = np.zeros((32, 1, 65))
        Dpt[:, :, 1:] = D
        return D.astype(np.float32), Dpt.astype(np.float32), X.astype(np.float32), lam, True
    V, G = conv_video.video(), conv_video.gabors()
    return G, G, V, 0.1, False


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default="1d,3d")
    ap.add_argument("--segments", type=int, default=8, help="1d: segments coded")
    ap.add_argument("--iters", type=int, default=None,
                    help="lca-pytorch iterations (default: its own, 1000)")
    ap.add_argument("--ref-tol", type=float, default=1e-5, help="tolerance of the reference solve")
    ap.add_argument("--repeats", type=int, default=3, help="lca: best of")
    ap.add_argument("--pt-repeats", type=int, default=1, help="lca-pytorch: best of")
    ap.add_argument("--lcapt", default=os.path.join(ROOT, "target", "lca-pytorch"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "compare_lca_pytorch_nd"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sys.path.insert(0, os.path.abspath(a.lcapt))
    import torch
    from lcapt.lca import LCAConv1D, LCAConv3D
    torch.set_num_threads(2)
    print(f"load: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    report = {}
    for name in a.problems.split(","):
        D, Dpt, X, lam, nonneg = problem(name, a.segments)
        dims = D.ndim - 2
        d_npy, x_npy = (os.path.join(a.out, f"{name}_{s}.npy") for s in ("D", "X"))
        np.save(d_npy, D)
        np.save(x_npy, X)
        sign = ["--nonneg"] if nonneg else []
        ref_flags = sign + ["--tol", f"{a.ref_tol:g}", "--max-iters", "100000"]
        _, _, A_ref, _ = run_lca(d_npy, x_npy, os.path.join(a.out, f"{name}_ref.npy"), lam, dims,
                              ref_flags)
        ref = objective(D, X, A_ref, lam)
        print(f"{name}: X {X.shape}, D {D.shape}, λ {lam:.6g}, {'non-negative' if nonneg else 'signed'};"
              f" optimum (lca --tol {a.ref_tol:g}) {ref:.8g}", flush=True)
        cls = LCAConv1D if dims == 1 else LCAConv3D
        kwargs = dict(out_neurons=D.shape[0], in_neurons=D.shape[1],
                      kernel_size=Dpt.shape[2] if dims == 1 else tuple(Dpt.shape[2:]),
                      lambda_=lam, nonneg=nonneg, input_zero_mean=False, input_unit_var=False,
                      return_vars=["acts"])
        if a.iters:
            kwargs["lca_iters"] = a.iters
        inp = torch.from_numpy(X)
        best_pt, best_lca = float("inf"), float("inf")
        # lca-pytorch runs in this process: its memory is the growth of the
        # process's peak resident size over the first forward pass (torch and
        # the inputs already loaded); lca's is its whole process's peak.
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pt_mib, lca_mib = None, None
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(max(a.repeats, a.pt_repeats)):
                if rep < a.pt_repeats:
                    model = cls(result_dir=tmp, **kwargs)
                    model.assign_weight_values(torch.from_numpy(Dpt))
                    t = time.perf_counter()
                    with torch.no_grad():
                        acts = model(inp)
                    best_pt = min(best_pt, time.perf_counter() - t)
                    if pt_mib is None:
                        pt_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
                if rep < a.repeats:
                    sec, summary, A_lca, lca_mib = run_lca(
                        d_npy, x_npy, os.path.join(a.out, f"{name}_codes.npy"), lam, dims, sign)
                    best_lca = min(best_lca, sec)
        A_pt = acts.numpy()
        iters = model.lca_iters
        rows = [("lca-pytorch " + cls.__name__, iters, best_pt, objective(D, X, A_pt, lam),
                 int((A_pt != 0).sum()), pt_mib),
                (f"lca encode (defaults: {summary['schedule']})", int(np.max(summary["iterations"])),
                 best_lca, objective(D, X, A_lca, lam), int((A_lca != 0).sum()), lca_mib)]
        print(f"| solver | iterations | time (s) | s / iteration | objective | gap | non-zeros "
              f"| memory (MiB) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for solver, it, t, obj, nnz, mib in rows:
            print(f"| {solver} | {it} | {t:.3f} | {t / max(it, 1):.2e} | {obj:.6f} | "
                  f"{(obj - ref) / ref:.1e} | {nnz} | {mib:.0f} |")
        print(f"time ratio (lca-pytorch / lca): {best_pt / best_lca:.0f}", flush=True)
        report[name] = {"lambda": lam, "optimum": ref, "rows": rows}
    print(f"load: {open('/proc/loadavg').read().split()[:3]}")
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
