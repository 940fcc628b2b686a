#!/usr/bin/env python3
"""Spiking convolutional LCA on the 256² SPORCO problem: gap to the non-negative optimum.

Problem (issue #13): astronaut.png, grey, box-resized to 256×256, high-passed with
sporco.signal.tikhonov_filter(img, 5, 16); SPORCO's G:12x12x36 dictionary, filters normalised;
λ = 0.05, circular boundary. P* is the lower of a tight non-negative lca solve
(conv_encode --nonneg --tol 1e-5) and SPORCO ConvBPDN with NonNegCoef=True. Then times the
default `lca encode --mode spiking` and the spiking solver at other step counts.

    cargo build --release --bin lca --example conv_encode
    python3 scripts/spiking_conv.py [--image PATH] [--steps 256,512,1024,2048] [--threads 1] [--fixed-point]

With --fixed-point, the same for Loihi's integer arithmetic (`--fixed-point`): the default
`lca encode --mode spiking --fixed-point` (its summary's cost against float) and the step sweep
with two synapses per Gram tap (the default) and with one.
"""
import argparse, json, os, subprocess, sys, time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LCA = os.path.join(ROOT, "target", "release", "lca")
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "conv_encode")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from compare_conv import problem  # noqa: E402  (the same 256² problem)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="/work/shared/data/images/astronaut.png")
    ap.add_argument("--lmbda", type=float, default=0.05)
    ap.add_argument("--steps", default="256,512,1024,2048")
    ap.add_argument("--sporco-iters", type=int, default=300)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "spiking_conv"))
    ap.add_argument("--fixed-point", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    x, D = problem(a.image)
    d_npy, x_npy = os.path.join(a.out, "D.npy"), os.path.join(a.out, "x.npy")
    np.save(d_npy, np.ascontiguousarray(np.transpose(D, (2, 0, 1))[:, None]))  # (36, 1, 12, 12)
    np.save(x_npy, x)
    env = dict(os.environ, RAYON_NUM_THREADS=a.threads)
    lm = str(a.lmbda)

    tight = json.loads(subprocess.run(
        [EXAMPLE, d_npy, x_npy, "--lambda", lm, "--nonneg", "--tol", "1e-5", "--max-iters", "100000",
         "--segment", "12"],  # greedy settling: below f32's floor for the accelerated schedule
        check=True, capture_output=True, text=True, env=env).stdout.splitlines()[-1])
    from sporco.admm import cbpdn
    opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": a.sporco_iters, "RelStopTol": 1e-12,
                                  "AuxVarObj": True, "NonNegCoef": True})
    t = time.perf_counter()
    solver = cbpdn.ConvBPDN(D.astype(np.float64), x.astype(np.float64), a.lmbda, opt)
    solver.solve()
    sporco_obj, sporco_s = float(solver.getitstat().ObjFun[-1]), time.perf_counter() - t
    p_star = min(tight["objective"], sporco_obj)
    print(f"P*: lca --nonneg --tol 1e-5 {tight['objective']:.8f} ({tight['seconds']:.1f} s), "
          f"SPORCO NonNegCoef {a.sporco_iters} it {sporco_obj:.8f} ({sporco_s:.1f} s)")

    codes = os.path.join(a.out, "codes.npy")
    t = time.perf_counter()
    run = subprocess.run([LCA, "encode", "-d", d_npy, "-i", x_npy, "-o", codes, "--mode", "spiking",
                          "--lambda", lm, "--json", "--quiet"],
                         check=True, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    summary = json.loads(run.stdout.splitlines()[-1])
    A = np.load(codes)
    print(f"lca encode --mode spiking (defaults): {seconds:.2f} s, {summary['iterations'][0]} steps, "
          f"gap {(summary['objective'] - p_star) / p_star:.2e}, min code {A.min():.3g}, "
          f"{int((A > 0).sum())} non-zeros")
    out = subprocess.run([EXAMPLE, d_npy, x_npy, "--lambda", lm, "--spiking", a.steps],
                         check=True, capture_output=True, text=True, env=env).stdout
    for line in out.splitlines():
        r = json.loads(line)
        print(f"spiking {r['steps']:5d} steps: {r['seconds']:.2f} s, gap {(r['objective'] - p_star) / p_star:.2e},"
              f" {r['spikes']} spikes, {r['nnz']} non-zeros")
    if not a.fixed_point:
        return
    t = time.perf_counter()
    run = subprocess.run([LCA, "encode", "-d", d_npy, "-i", x_npy, "-o", codes, "--mode", "spiking",
                          "--fixed-point", "--lambda", lm, "--json", "--quiet"],
                         check=True, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    summary = json.loads(run.stdout.splitlines()[-1])
    v = summary["vs_float"]
    print(f"lca encode --mode spiking --fixed-point (defaults, float run included): {seconds:.2f} s, "
          f"gap {(summary['objective'] - p_star) / p_star:.2e} (float {(v['objective_float'] - p_star) / p_star:.2e}), "
          f"code error vs float {v['rel_code_error']:.2e}")
    for synapses in ("2", "1"):
        out = subprocess.run([EXAMPLE, d_npy, x_npy, "--lambda", lm, "--spiking", a.steps, "--fixed-point",
                              "--weight-synapses", synapses],
                             check=True, capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            r = json.loads(line)
            print(f"fixed point, {synapses} synapse(s) per tap, {r['steps']:5d} steps: {r['seconds']:.2f} s, "
                  f"gap {(r['objective'] - p_star) / p_star:.2e}, {r['spikes']} spikes")


if __name__ == "__main__":
    sys.exit(main())
