#!/usr/bin/env python3
"""Convolutional LCA: lca against lca-pytorch's `LCAConv2D` on CPU (issue 13).

Problem: the centre SIZE x SIZE crop of compare_conv.py's high-passed 256x256 grey image,
SPORCO's G:12x12x36 filters (normalised), lambda = 0.05, signed codes.

lca-pytorch's conventions, and how they are matched here:
  * its `pad='same'` needs odd kernels: the 12x12 filters are zero-padded to 13x13 with the
    zero row/column at the top/left, so tap p of a 12x12 filter lands on pixel y + p - 5 as in
    lca's (scipy convolve2d 'same') convention; atoms are unchanged;
  * its convolutions pad with zeros, so the matching lca problem is `--boundary zero`
    (its inhibition uses the untruncated Gram kernels G = conv(Phi, Phi) also near the edges,
    so its fixed point there is not exactly the zero-boundary LASSO optimum: the objective
    below shows how far that puts it);
  * `lambda_` is the soft-threshold level on the potentials with unit-norm filters, the same
    lambda as lca's; `nonneg=False` for signed codes; `input_zero_mean/unit_var=False` (the
    input is already high-passed and must not be rescaled, or lambda would change meaning);
  * default dynamics: tau = 100 (dt/tau = 0.01), lca_iters = 1000 dense iterations, no stop test.
The objective of both codes is computed here the same way,
0.5*||x - sum_m convolve2d(A[m], D[m], 'same', boundary='fill')||^2 + lambda*||A||_1,
and compared with the optimum (lca at --tol 1e-6 on the same crop).

Usage:
  git clone https://github.com/lanl/lca-pytorch target/lca-pytorch   # or any checkout
  pip install torch pandas pyyaml sporco scipy pillow
  cargo build --release
  python3 scripts/compare_lca_pytorch.py [--size 32] [--lcapt target/lca-pytorch] [--repeats 3]
Both run with 2 threads (torch.set_num_threads(2); RAYON_NUM_THREADS=2 for lca).
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from compare_conv import problem, DEFAULT_IMAGE  # noqa: E402

LCA = os.path.join(ROOT, "target", "release", "lca")


def objective_fill(D, x, A, lmbda):
    """lca's objective, zero boundary, through scipy (D is (k, k, M), A is (M, H, W))."""
    from scipy.signal import convolve2d
    rec = sum(convolve2d(A[m].astype(np.float64), D[:, :, m].astype(np.float64), mode="same",
                         boundary="fill") for m in range(A.shape[0]))
    return 0.5 * np.sum((x.astype(np.float64) - rec) ** 2) + lmbda * np.abs(A).sum(), rec


def run_lca(dict_npy, img_npy, out_npy, lmbda, extra=()):
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    cmd = [LCA, "encode", "--dictionary", dict_npy, "--input", img_npy, "--output", out_npy,
           "--lambda", str(lmbda), "--boundary", "zero", "--json", *extra]
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    seconds = time.perf_counter() - t
    return seconds, json.loads(out.strip().splitlines()[-1]), np.load(out_npy)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=DEFAULT_IMAGE)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--lmbda", type=float, default=0.05)
    ap.add_argument("--lcapt", default=os.path.join(ROOT, "target", "lca-pytorch"),
                    help="folder holding lca-pytorch's `lcapt` package")
    ap.add_argument("--iters", type=int, default=None, help="lca-pytorch iterations (default: its own, 1000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "compare_lca_pytorch"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sys.path.insert(0, os.path.abspath(a.lcapt))
    import torch
    from lcapt.lca import LCAConv2D
    torch.set_num_threads(2)

    x256, D = problem(a.image)
    s = a.size
    y0 = (x256.shape[0] - s) // 2
    x = np.ascontiguousarray(x256[y0:y0 + s, y0:y0 + s])
    lm = a.lmbda
    M = D.shape[2]
    dict_npy = os.path.join(a.out, "G12x12x36.npy")
    img_npy = os.path.join(a.out, f"crop{s}.npy")
    np.save(dict_npy, np.ascontiguousarray(np.transpose(D, (2, 0, 1))[:, None]))
    np.save(img_npy, x)

    # Optimum on the crop.
    _, ref_run, A_ref = run_lca(dict_npy, img_npy, os.path.join(a.out, "ref.npy"), lm, ["--tol", "1e-6", "--max-iters", "1000000"])
    ref, _ = objective_fill(D, x, A_ref, lm)
    print(f"crop {s}x{s} of {os.path.basename(a.image)}: optimum (lca tol 1e-6) {ref:.6f}, "
          f"{int((A_ref != 0).sum())} non-zeros")

    # lca-pytorch, 13x13 filters with the 12x12 ones at [1:, 1:].
    W = np.zeros((M, 1, 13, 13), dtype=np.float32)
    W[:, 0, 1:, 1:] = np.transpose(D, (2, 0, 1))
    kwargs = dict(out_neurons=M, in_neurons=1, kernel_size=13, lambda_=lm, nonneg=False,
                  input_zero_mean=False, input_unit_var=False, return_vars=["acts", "recons"])
    if a.iters:
        kwargs["lca_iters"] = a.iters
    inp = torch.from_numpy(x)[None, None]
    best_pt, best_lca = float("inf"), float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(a.repeats):
            model = LCAConv2D(result_dir=tmp, **kwargs)
            model.assign_weight_values(torch.from_numpy(W))
            t = time.perf_counter()
            with torch.no_grad():
                acts, recons = model(inp)
            best_pt = min(best_pt, time.perf_counter() - t)
            sec, summary, A_lca = run_lca(dict_npy, img_npy, os.path.join(a.out, "codes.npy"), lm)
            best_lca = min(best_lca, sec)
    iters = model.lca_iters
    A_pt = acts[0].numpy()
    obj_pt, rec = objective_fill(D, x, A_pt, lm)
    conv_err = float(np.abs(rec - recons[0, 0].numpy()).max())
    obj_lca, _ = objective_fill(D, x, A_lca, lm)
    rows = [
        ("lca-pytorch LCAConv2D", iters, best_pt, best_pt / iters, obj_pt, int((A_pt != 0).sum())),
        ("lca encode (defaults)", summary["iterations"][0], best_lca, None, obj_lca, int((A_lca != 0).sum())),
    ]
    print(f"(lca-pytorch's own reconstruction vs scipy convolve2d of its codes: max diff {conv_err:.1e})")
    print(f"{'solver':24} {'iters':>7} {'time s':>8} {'s/iter':>9} {'objective':>11} {'rel. gap':>9} {'nnz':>6}")
    for name, it, t, per, obj, nnz in rows:
        per_s = f"{per:9.2e}" if per else f"{'-':>9}"
        print(f"{name:24} {it:7d} {t:8.3f} {per_s} {obj:11.6f} {(obj - ref) / ref:9.2e} {nnz:6d}")
    print(f"speed ratio (lca-pytorch time / lca time): {best_pt / best_lca:.1f}")
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump({"size": s, "reference": ref, "rows": rows}, f)


if __name__ == "__main__":
    main()
