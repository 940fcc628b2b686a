#!/usr/bin/env python3
"""Time per epoch and backward memory per sample of one spiking network trained three ways,
in the same run: lca's EventProp (`--method eventprop`), lca's surrogate BPTT, and snnTorch
(CPU). Rounds are interleaved (EventProp, BPTT, snnTorch, EventProp, ...) so that load from
other processes hits all three alike; the table reports the best of the rounds.

The network is the Yin-Yang one of BENCHMARKS.md: 4 latency-coded inputs over 60 steps
(window 50), 100 CUBA-LIF hidden neurons, 3 leaky readout neurons, the same batch size for
all three. lca's runs use each method's own recipe otherwise (`lca snn recipe --dataset
yinyang [--method eventprop]`: EventProp's loss and fixed decays), snnTorch the surrogate
recipe (scripts/snntorch_yinyang.py: max-voltage readout, trained decays).

Memory per sample:
  * lca: `backward_bytes_per_sample` of `--json` (what the backward pass keeps from the
    forward pass: 24 bytes per spike plus the readout voltages for EventProp, one f32
    voltage per neuron and step for BPTT), averaged over the last epoch;
  * snnTorch: the bytes of every tensor autograd saves for backward during one training
    batch (torch.autograd.graph.saved_tensors_hooks, storages counted once), divided by the
    batch size;
  * all three: the peak resident set size of the process (os.wait4), which includes the
    program, the datasets and, for torch, its libraries.

    cargo build --release
    python3 scripts/bench_snn.py --epochs 3 --rounds 3 --threads 2 [--json OUT.json]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_lca(lca, method, args, out_dir):
    cmd = [lca, "snn", "train", "--dataset", "yinyang", "--method", method,
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           "--hidden", str(args.hidden), "--seed", "0", "--threads", str(args.threads),
           "--output", out_dir, "--json"]
    return run_child(cmd)


def run_snntorch(args):
    cmd = [sys.executable, os.path.abspath(__file__), "--snntorch-child",
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           "--hidden", str(args.hidden), "--threads", str(args.threads)]
    # torch's OpenMP threads spin while waiting: on a machine shared with other
    # processes that stalls it for minutes per epoch; passive waiting does not.
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return run_child(cmd, env)


def run_child(cmd, env=None):
    """Runs cmd, returns (its JSON line, peak RSS in bytes)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr}")
        out.seek(0)
        lines = [ln for ln in out.read().decode().splitlines() if ln.startswith("{")]
    # ru_maxrss is in KiB on Linux
    return json.loads(lines[-1]), usage.ru_maxrss * 1024


def snntorch_child(a):
    """The snnTorch run (in its own process, so its peak RSS is its own)."""
    sys.path.insert(0, HERE)
    import torch
    import snntorch as snn
    from snntorch_yinyang import Net, latency, yinyang

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    xtr, ytr = yinyang(5000, 42)
    str_ = latency(xtr, 60, 50)
    ytr = torch.from_numpy(ytr)
    net = Net(4, a.hidden, 3, 0.1)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)

    saved = {}

    def pack(t):
        s = t.untyped_storage()
        saved[s.data_ptr()] = s.nbytes()
        return t

    epoch_seconds, saved_bytes = [], None
    for epoch in range(a.epochs):
        order = torch.randperm(len(ytr), generator=gen)
        start = time.perf_counter()
        for b in range(0, len(order), a.batch_size):
            idx = order[b:b + a.batch_size]
            opt.zero_grad()
            if saved_bytes is None and len(idx) == a.batch_size:
                with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                    loss = loss_fn(net(str_[:, idx]), ytr[idx])
                saved_bytes = sum(saved.values()) / len(idx)
            else:
                loss = loss_fn(net(str_[:, idx]), ytr[idx])
            loss.backward()
            opt.step()
            with torch.no_grad():
                for prm in (net.lif1.alpha, net.lif1.beta, net.alpha2, net.beta2):
                    prm.clamp_(0.0, 1.0)
        epoch_seconds.append(time.perf_counter() - start)
    print(json.dumps({
        "framework": f"snntorch {snn.__version__} / torch {torch.__version__}",
        "epoch_seconds": min(epoch_seconds),
        "backward_bytes_per_sample": saved_bytes,
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lca", default=os.environ.get("LCA", "target/release/lca"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--snntorch-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.snntorch_child:
        snntorch_child(a)
        return

    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for name in ("lca eventprop", "lca surrogate", "snntorch"):
                if name == "snntorch":
                    res, rss = run_snntorch(a)
                    sec = res["epoch_seconds"]
                else:
                    res, rss = run_lca(a.lca, name.split()[1], a, os.path.join(tmp, f"{r}"))
                    # fastest epoch of the run, like the snnTorch child
                    with open(os.path.join(tmp, f"{r}", "training.csv")) as f:
                        rows = f.read().splitlines()[1:]
                    sec = min(float(row.split(",")[6]) for row in rows)
                row = {"epoch_seconds": sec, "backward_bytes_per_sample":
                       res.get("backward_bytes_per_sample"), "peak_rss_bytes": rss,
                       "spikes_per_sample": res.get("spikes_per_sample"),
                       "loss": res.get("loss"), "framework": res.get("framework", "lca")}
                # every measurement as it comes, so an interrupted run still reports
                print(f"round {r + 1} {name}: {json.dumps(row)}", file=sys.stderr, flush=True)
                if name not in best or sec < best[name]["epoch_seconds"]:
                    best[name] = row
    ref = best["lca surrogate"]["epoch_seconds"]
    print(f"Yin-Yang 4-{a.hidden}-3, 60 steps, batch {a.batch_size}, {a.threads} threads, "
          f"best of {a.rounds} rounds of {a.epochs} epochs (fastest epoch)\n")
    print("| trainer | s/epoch | vs lca BPTT | backward memory per sample | peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in best.items():
        mem = row["backward_bytes_per_sample"]
        mem = f"{mem / 1024:.1f} KiB" if mem is not None else "–"
        extra = (f" ({row['spikes_per_sample']:.0f} spikes)"
                 if row["spikes_per_sample"] is not None else "")
        print(f"| {name} | {row['epoch_seconds']:.3f} | {row['epoch_seconds'] / ref:.2f}× | "
              f"{mem}{extra} | {row['peak_rss_bytes'] / 2**20:.0f} MiB |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"settings": vars(a), "results": best}, f, indent=1)


if __name__ == "__main__":
    main()
