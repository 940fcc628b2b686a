#!/usr/bin/env python3
"""The network of `lca snn train --dataset yinyang` (defaults), trained with snnTorch
on the CPU, for the timing comparison in BENCHMARKS.md.

Same architecture and training: latency-coded (x, y, 1-x, 1-y) over 60 steps
(window 50), 100 CUBA-LIF hidden neurons (snntorch.Synaptic: current decay
alpha = 0.9, voltage decay beta = 0.95, threshold 1, reset to zero, the three
learnable scalars of the layer, as in lca), a leaky non-spiking readout, cross-entropy on the
maximum over time of the readout voltage, fast-sigmoid surrogate (snnTorch's
slope k = 1/tau; its gradient 1/(1+k|x|)^2 equals lca's fast sigmoid with
alpha = 2*tau), Adam lr 2e-3, batch 16, cosine annealing to 5 %, best
validation epoch kept.

The data are the Yin-Yang dataset of Kriener et al. (2021) generated with
numpy's RandomState and seeds 42/41/40 as in the reference implementation:
the same distribution as lca's generator (ChaCha8), not the same draws.

    pip install snntorch torch
    python3 scripts/snntorch_yinyang.py --epochs 60 --threads 2 [--json]
"""

import argparse
import json
import math
import time

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate


def yinyang(size, seed, r_small=0.1, r_big=0.5):
    rng = np.random.RandomState(seed)

    def which_class(x, y):
        d_right = math.hypot(x - 1.5 * r_big, y - r_big)
        d_left = math.hypot(x - 0.5 * r_big, y - r_big)
        c1 = d_right <= r_small
        c2 = r_small < d_left <= 0.5 * r_big
        c3 = y > r_big and d_right > 0.5 * r_big
        if d_right < r_small or d_left < r_small:
            return 2
        return int(c1 or c2 or c3)

    xs, ys = [], []
    for _ in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if math.hypot(x - r_big, y - r_big) > r_big:
                continue
            if which_class(x, y) == goal:
                break
        xs.append([x, y, 1 - x, 1 - y])
        ys.append(goal)
    return np.array(xs, dtype=np.float32), np.array(ys, dtype=np.int64)


def latency(x, steps, window):
    """[T, N, F] spikes: t = round((1 - x) (window - 1)); x <= 0 silent."""
    n, f = x.shape
    out = np.zeros((steps, n, f), dtype=np.float32)
    t = np.rint((1.0 - np.minimum(x, 1.0)) * (window - 1)).astype(np.int64)
    for i in range(n):
        for j in range(f):
            if x[i, j] > 0:
                out[t[i, j], i, j] = 1.0
    return torch.from_numpy(out)


class Net(torch.nn.Module):
    def __init__(self, n_in, hidden, n_out, tau):
        super().__init__()
        self.fc1 = torch.nn.Linear(n_in, hidden)
        self.fc2 = torch.nn.Linear(hidden, n_out)
        with torch.no_grad():
            self.fc1.weight.normal_(0.0, 3.0 / math.sqrt(n_in))
            self.fc2.weight.normal_(0.0, 1.0 / math.sqrt(hidden))
            self.fc1.bias.zero_()
            self.fc2.bias.zero_()
        grad = surrogate.fast_sigmoid(slope=1.0 / tau)
        self.lif1 = snn.Synaptic(alpha=0.9, beta=0.95, threshold=1.0, spike_grad=grad,
                                 learn_alpha=True, learn_beta=True, learn_threshold=True,
                                 reset_mechanism="zero")
        self.alpha2 = torch.nn.Parameter(torch.tensor(0.9))
        self.beta2 = torch.nn.Parameter(torch.tensor(0.95))

    def forward(self, x):
        syn1, mem1 = self.lif1.reset_mem()
        i2 = torch.zeros(x.shape[1], self.fc2.out_features)
        v2 = torch.zeros_like(i2)
        vmax = None
        for t in range(x.shape[0]):
            spk1, syn1, mem1 = self.lif1(self.fc1(x[t]), syn1, mem1)
            i2 = self.alpha2 * i2 + self.fc2(spk1)
            v2 = self.beta2 * v2 + i2
            vmax = v2 if vmax is None else torch.maximum(vmax, v2)
        return vmax


def accuracy(net, x, y):
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--tau", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    xtr, ytr = yinyang(5000, 42)
    xva, yva = yinyang(1000, 41)
    xte, yte = yinyang(1000, 40)
    str_, sva, ste = (latency(v, a.steps, a.window) for v in (xtr, xva, xte))
    ytr, yva, yte = (torch.from_numpy(v) for v in (ytr, yva, yte))

    net = Net(4, a.hidden, 3, a.tau)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    best, best_state, epoch_seconds = -1.0, None, []
    for epoch in range(a.epochs):
        p = epoch / max(a.epochs - 1, 1)
        for g in opt.param_groups:
            g["lr"] = a.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))
        order = torch.randperm(len(ytr), generator=gen)
        start = time.perf_counter()
        for b in range(0, len(order), a.batch_size):
            idx = order[b:b + a.batch_size]
            opt.zero_grad()
            loss = loss_fn(net(str_[:, idx]), ytr[idx])
            loss.backward()
            opt.step()
            with torch.no_grad():
                for prm in (net.lif1.alpha, net.lif1.beta, net.alpha2, net.beta2):
                    prm.clamp_(0.0, 1.0)
        epoch_seconds.append(time.perf_counter() - start)
        va = accuracy(net, sva, yva)
        if va > best:
            best, best_state = va, {k: v.clone() for k, v in net.state_dict().items()}
        if not a.json:
            print(f"epoch {epoch + 1}: {epoch_seconds[-1]:.2f} s, validation {100 * va:.2f}%", flush=True)
    net.load_state_dict(best_state)
    result = {
        "framework": f"snntorch {snn.__version__} / torch {torch.__version__} (CPU, {a.threads} threads)",
        "test_accuracy": accuracy(net, ste, yte),
        "validation_accuracy": best,
        "epochs": a.epochs,
        "epoch_seconds": sum(epoch_seconds) / len(epoch_seconds),
        "seconds": sum(epoch_seconds),
    }
    print(json.dumps(result) if a.json else result)


if __name__ == "__main__":
    main()
