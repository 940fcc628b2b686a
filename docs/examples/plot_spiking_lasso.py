"""
Spiking LCA: spike rates converge to the LASSO
==============================================

The spiking LCA replaces every neuron's continuous output by a train of spikes
from an integrate-and-fire neuron. Its firing rates, averaged over a window,
converge to the non-negative LASSO solution the rate LCA computes: the longer the
simulation, the closer. Here both codes are computed for the same signals, and
the gap is measured for increasing numbers of time steps.
"""

import matplotlib.pyplot as plt
import numpy as np

import lca

rng = np.random.default_rng(0)
n_atoms, n_features, alpha = 64, 32, 0.1
D = rng.standard_normal((n_atoms, n_features))
D /= np.linalg.norm(D, axis=1, keepdims=True)
truth = np.abs(rng.standard_normal((50, n_atoms))) * (rng.random((50, n_atoms)) < 0.08)
X = (truth @ D).astype(np.float32)

lasso = lca.sparse_encode(X, D, alpha=alpha, positive=True, n_jobs=2)
steps = [64, 128, 256, 512, 1024, 2048]
rates = {t: lca.sparse_encode(X, D, alpha=alpha, mode="spiking", positive=True, time_steps=t, n_jobs=2)
         for t in steps}
errors = [np.linalg.norm(rates[t] - lasso) / np.linalg.norm(lasso) for t in steps]
for t, e in zip(steps, errors):
    print(f"{t:5d} time steps: relative distance to the LASSO {e:.3f}")

# %%

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
ax1.plot(lasso.ravel(), rates[steps[-1]].ravel(), ".", ms=3)
top = lasso.max() * 1.05
ax1.plot([0, top], [0, top], "k-", lw=0.5)
ax1.set_xlabel("rate LCA (non-negative LASSO)")
ax1.set_ylabel(f"spike rate, {steps[-1]} time steps")
ax1.set_title("every coefficient")
ax2.loglog(steps, errors, "o-")
ax2.set_xlabel("time steps")
ax2.set_ylabel("‖rates − LASSO‖ / ‖LASSO‖")
ax2.set_title("convergence")
fig.tight_layout()
plt.show()
