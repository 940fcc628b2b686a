#!/usr/bin/env python3
"""Cross-checks of lca's NIR export and import against snnTorch (and Norse),
for issue 24's acceptance; the figures go in BENCHMARKS.md ("NIR interchange").

(i)  Export: the networks `lca snn train` gives with its defaults on Yin-Yang and
     digits, both methods (surrogate BPTT and EventProp), are written by
     `lca snn export --format nir`, imported by `snntorch.import_nir.import_from_nir`
     and run by snnTorch on the same encoded test inputs lca uses
     (`lca.snn.Model.run`). Reported: test accuracy in both, the fraction of
     samples with the same predicted class, and the Pearson correlation of the
     per-neuron hidden spike counts (every sample, every neuron).
     snnTorch's importer maps `CubaLIF` to `snn.Synaptic` (alpha = 1 - dt/tau_syn,
     beta = 1 - dt/tau_mem, reset to zero, no reset delay, dt = 1e-4 s fixed)
     but has no mapping for the leaky readout (`CubaLI`): this script adds one,
     an `snn.Synaptic` with the same decay formulas, no reset and no threshold,
     whose membrane voltage is the output, decoded as the graph's `readout`
     metadata says (`max`/`mean`/`exp`).
     EventProp networks time spikes within a step (`spike_timing =
     "interpolated"`); snnTorch steps them at dt, so they are also compared with
     lca running the same weights step-timed.
(ii) Import: a small snnTorch network (Linear -> Synaptic -> Linear -> Synaptic,
     reset to zero without delay, spike-count cross-entropy) trained on lca's
     Yin-Yang training split with lca's encoding, exported by
     `snntorch.export_nir.export_to_nir` and run by `lca snn eval --model
     net.nir --dataset yinyang`.

Needs torch, snntorch, nir, h5py and the lca Python package (never in CI):

    python3 -m venv /work/venv-snn
    /work/venv-snn/bin/pip install torch snntorch nir numpy h5py [norse]
    /work/venv-snn/bin/pip install .          # the lca package (or PYTHONPATH)
    cargo build --release
    /work/venv-snn/bin/python scripts/nir_snntorch.py --out out/nir-snntorch
"""

import argparse
import copy
import json
import os
import subprocess
import sys
import time

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir
from snntorch.import_nir import _nir_to_snntorch_module, _replace_rnn_subgraph_with_nirgraph

import lca.snn

DT = 1e-4  # snnTorch's importer and exporter hard-code this step


class CubaLIReadout(torch.nn.Module):
    """A NIR `CubaLI` node as snnTorch neurons: `snn.Synaptic` without spikes or
    reset, the same decay formulas snnTorch's importer uses for `CubaLIF`."""

    def __init__(self, node):
        super().__init__()
        tau_syn, tau_mem = np.unique(node.tau_syn), np.unique(node.tau_mem)
        assert tau_syn.size == 1 and tau_mem.size == 1, "per-neuron time constants"
        assert np.allclose(node.v_leak, 0), "v_leak not supported"
        assert np.allclose(node.r, node.tau_mem / DT), "r != tau_mem / dt"
        assert np.allclose(node.w_in * DT / node.tau_syn, 1.0), "w_in != tau_syn / dt"
        self.neuron = snn.Synaptic(alpha=float(1 - DT / tau_syn[0]), beta=float(1 - DT / tau_mem[0]),
                                   threshold=float("inf"), reset_mechanism="none", init_hidden=True,
                                   output=True)

    def forward(self, x):
        _, _, mem = self.neuron(x)
        return mem


def import_snntorch(graph):
    """`snntorch.import_nir.import_from_nir` with a mapping for `CubaLI` added."""
    import nirtorch

    graph = _replace_rnn_subgraph_with_nirgraph(graph)
    node_map = {t: (lambda n: _nir_to_snntorch_module(n, init_hidden=True))
                for t in (nir.Affine, nir.Linear, nir.IF, nir.LIF, nir.CubaLIF)}
    node_map[nir.CubaLI] = CubaLIReadout
    return nirtorch.nir_to_torch(graph, node_map)


def decode(readout, out, model_json):
    """Class scores of `out` `[steps, n, classes]` as lca's loss reads them."""
    if readout == "max":
        return out.max(0)
    if readout == "mean":
        return out.mean(0)
    if readout == "exp":
        tau = model_json["loss"]["tau"]
        w = np.exp(-np.arange(out.shape[0]) / tau)
        return np.tensordot(w / w.sum(), out, axes=(0, 0))
    if readout == "count":
        return out.sum(0)
    raise ValueError(f"readout {readout!r} not handled by this script")


def run_snntorch(net, inputs, hidden_modules):
    """Steps `net` over `inputs` `[n, steps, channels]`; returns the outputs
    `[steps, n, classes]` and the hidden layers' spike counts `[n, size]`."""
    counts = [None] * len(hidden_modules)

    def hook(i):
        def f(_module, _inp, out):
            spk = out[0] if isinstance(out, tuple) else out
            counts[i] = spk.detach().clone() if counts[i] is None else counts[i] + spk.detach()
        return f

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(hidden_modules)]
    x = torch.from_numpy(inputs.astype(np.float32))
    outs = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out = net(x[:, t, :])
            out = out[0] if isinstance(out, tuple) else out
            outs.append(out.numpy().copy())
    for h in handles:
        h.remove()
    return np.stack(outs), [c.numpy() for c in counts]


def lca_cli(args, *cmd):
    return subprocess.run([args.lca, *cmd], check=True, capture_output=True, text=True).stdout


def stepped_copy(model_path, out_path):
    """The model with its spikes at their step (what a stepped simulator runs)."""
    m = json.load(open(model_path))
    m["network"]["timing"] = "step"
    with open(out_path, "w") as f:
        json.dump(m, f)
    return lca.snn.load(out_path)


def export_check(args, dataset, method):
    name = f"{dataset}-{method}"
    folder = os.path.join(args.out, name)
    model_path = os.path.join(folder, "model.json")
    if not os.path.exists(model_path):
        lca_cli(args, "snn", "train", "--dataset", dataset, "--method", method, "--output", folder,
                "--quiet", "--json")
    nir_path = os.path.join(args.out, f"{name}.nir")
    lca_cli(args, "snn", "export", "--model", model_path, "--format", "nir", "-o", nir_path)
    model = lca.snn.load(model_path)
    _, _, (X, y) = lca.snn.load_dataset(dataset)
    inputs, pred_lca, counts_lca = model.run(X, y)
    acc_lca = float(np.mean(pred_lca == y))
    assert abs(acc_lca - model.evaluate(X, y)) < 1e-12, "Model.run disagrees with evaluate"

    graph = nir.read(nir_path)
    model_json = json.loads(graph.metadata["lca_model"])
    net = import_snntorch(graph)
    hidden = [m for m in net.modules() if type(m) is snn.Synaptic]
    readout, = [m for m in net.modules() if isinstance(m, CubaLIReadout)]
    hidden = [m for m in hidden if m is not readout.neuron]
    out, counts_snn = run_snntorch(net, inputs, hidden)
    pred_snn = decode(str(graph.metadata["readout"]), out, model_json).argmax(1)
    acc_snn = float(np.mean(pred_snn == y))
    same = float(np.mean(pred_snn == pred_lca))
    r = float(np.corrcoef(np.concatenate([c.ravel() for c in counts_lca]),
                          np.concatenate([c.ravel() for c in counts_snn]))[0, 1])
    row = dict(model=name, lca_acc=acc_lca, snntorch_acc=acc_snn, same_class=same, count_r=r,
               lca_spikes=int(sum(c.sum() for c in counts_lca)),
               snntorch_spikes=int(sum(c.sum() for c in counts_snn)),
               spike_timing=str(graph.metadata["spike_timing"]))
    if row["spike_timing"] == "interpolated":
        stepped = stepped_copy(model_path, os.path.join(folder, "model-stepped.json"))
        _, pred_st, counts_st = stepped.run(X, y)
        row.update(lca_stepped_acc=float(np.mean(pred_st == y)),
                   same_class_vs_stepped=float(np.mean(pred_snn == pred_st)),
                   count_r_vs_stepped=float(np.corrcoef(
                       np.concatenate([c.ravel() for c in counts_st]),
                       np.concatenate([c.ravel() for c in counts_snn]))[0, 1]))
    if args.norse:
        row.update(norse_check(graph, inputs, counts_lca))
    return row


def norse_check(graph, inputs, counts_lca):
    """Norse's `from_nir` on the graph: the nodes it builds and, stepped over the
    same inputs, the Pearson r of its first hidden layer's spike counts with lca's
    (Norse 1.1.0 has no case for `CubaLI` and leaves the readout out)."""
    import norse.torch as norse_torch

    try:
        net = norse_torch.from_nir(graph, dt=DT)
    except Exception as e:  # noqa: BLE001 - reported verbatim
        return dict(norse=f"refused: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
    modules = dict(net.named_children())
    rec = []
    handle = modules["lif0"].register_forward_hook(lambda _m, _i, o: rec.append(o[0].detach().clone()))
    x = torch.from_numpy(inputs.astype(np.float32))
    state = None
    with torch.no_grad():
        for t in range(x.shape[1]):
            _, state = net(x[:, t, :], state)
    handle.remove()
    counts = torch.stack(rec).sum(0).numpy()
    return dict(norse_nodes=sorted(modules), norse_spikes=int(counts.sum()),
                norse_count_r=float(np.corrcoef(counts.ravel(), counts_lca[0].ravel())[0, 1]))


def import_check(args):
    """(ii): an snnTorch network trained on lca's Yin-Yang encoding, run by lca."""
    torch.manual_seed(args.seed)
    encoder_model = lca.snn.load(os.path.join(args.out, "yinyang-surrogate", "model.json"))
    scaling = json.loads(nir.read(os.path.join(args.out, "yinyang-surrogate.nir"))
                         .metadata["lca_model"])["scaling"]
    assert scaling["min"] == [0.0] * 4 and scaling["max"] == [1.0] * 4, "yinyang scaling is not the identity"
    (Xtr, ytr), (Xva, yva), (Xte, yte) = lca.snn.load_dataset("yinyang")
    enc = {k: torch.from_numpy(encoder_model.run(X, y)[0].astype(np.float32))
           for k, (X, y) in dict(train=(Xtr, ytr), val=(Xva, yva), test=(Xte, yte)).items()}
    labels = dict(train=torch.from_numpy(ytr), val=torch.from_numpy(yva), test=torch.from_numpy(yte))

    def neuron(n, **kw):
        # per-neuron decays and thresholds: with scalars, export_to_nir writes
        # shapeless CubaLIF nodes that nir's type check refuses
        return snn.Synaptic(alpha=torch.full((n,), 0.9), beta=torch.full((n,), 0.95),
                            threshold=torch.ones(n), reset_mechanism="zero", reset_delay=False,
                            init_hidden=True, **kw)

    net = torch.nn.Sequential(torch.nn.Linear(4, args.hidden), neuron(args.hidden),
                              torch.nn.Linear(args.hidden, 3), neuron(3, output=True))
    with torch.no_grad():  # lca's Yin-Yang weight scale (3/sqrt(fan-in)), a readout that spikes
        net[0].weight.normal_(0.0, 3.0 / 2.0)
        net[2].weight.normal_(0.0, 3.0 / args.hidden ** 0.5)

    def counts(x):
        snn_utils.reset(net)
        total = 0
        for t in range(x.shape[1]):
            spk, _, _ = net(x[:, t, :])
            total = total + spk
        return total

    def accuracy(split):
        with torch.no_grad():
            return float((counts(enc[split]).argmax(1) == labels[split]).float().mean())

    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    best, best_state = -1.0, None
    n = enc["train"].shape[0]
    for epoch in range(args.epochs):
        perm = torch.randperm(n)
        for i in range(0, n - args.batch + 1, args.batch):
            idx = perm[i:i + args.batch]
            loss = torch.nn.functional.cross_entropy(counts(enc["train"][idx]), labels["train"][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = accuracy("val")
        if val > best:
            best, best_state = val, copy.deepcopy(net.state_dict())
        print(f"  snnTorch epoch {epoch + 1}: validation {val:.3f}", file=sys.stderr)
    net.load_state_dict(best_state)
    acc_snn = accuracy("test")
    snn_utils.reset(net)
    graph = export_to_nir(net, torch.zeros(4), model_name="snntorch")  # (1, 4) fails nir's type check
    path = os.path.join(args.out, "snntorch-yinyang.nir")
    nir.write(path, graph)
    ev = json.loads(lca_cli(args, "snn", "eval", "--model", path, "--dataset", "yinyang", "--json",
                            "--quiet"))
    return dict(snntorch_acc=acc_snn, lca_acc=ev["accuracy"], validation=best,
                nodes={k: type(v).__name__ for k, v in graph.nodes.items()})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lca", default="target/release/lca", help="the lca binary")
    p.add_argument("--out", default="out/nir-snntorch", help="models, NIR files and results.json")
    p.add_argument("--epochs", type=int, default=10, help="snnTorch training epochs (ii)")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--norse", action="store_true", help="also run norse.torch.from_nir's module")
    p.add_argument("--skip-import", action="store_true", help="only part (i)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    res = dict(snntorch=snn.__version__, torch=torch.__version__, nir=nir.__version__, dt=DT, export=[])
    for dataset in ("yinyang", "digits"):
        for method in ("surrogate", "eventprop"):
            t0 = time.time()
            row = export_check(args, dataset, method)
            res["export"].append(row)
            print(json.dumps(row), f"({time.time() - t0:.0f} s)", file=sys.stderr)
    if not args.skip_import:
        res["import"] = import_check(args)
        print(json.dumps(res["import"]), file=sys.stderr)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
