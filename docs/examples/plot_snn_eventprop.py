"""
Train a spiking network with EventProp
======================================

EventProp (Wunderlich & Pehle, 2021) computes the *exact* gradient of a loss
defined on spike times: an adjoint system is integrated backwards in time, and
information jumps between neurons only at the spikes of the forward pass, so the
backward pass is as sparse as the network's activity. ``method="eventprop"``
trains the same CUBA-LIF network as the surrogate-gradient example with its
recipe (``lca.snn.recipe("yinyang")`` and the EventProp entries that
``lca snn recipe --method eventprop`` prints).
"""

import matplotlib.pyplot as plt

import lca.snn

train, validation, test = lca.snn.load_dataset("yinyang")
X, y = train[0][:1500], train[1][:1500]
model, log = lca.snn.train(X, y, validation=validation, dataset="yinyang", method="eventprop",
                           hidden=[64], epochs=8, seed=0, scale=False, n_jobs=2)
print(f"EventProp: test accuracy {model.evaluate(*test):.3f}")

# %%
# The same network and data with surrogate gradients, for comparison.

surrogate, log_s = lca.snn.train(X, y, validation=validation, dataset="yinyang", method="surrogate",
                                 hidden=[64], epochs=8, seed=0, scale=False, n_jobs=2)
print(f"surrogate gradients: test accuracy {surrogate.evaluate(*test):.3f}")

fig, ax = plt.subplots(figsize=(6, 3.8))
for name, lg in (("EventProp", log), ("surrogate gradients", log_s)):
    key = "validation_accuracy" if "validation_accuracy" in lg else "train_accuracy"
    ax.plot(lg["epoch"], lg[key], "o-", label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("validation accuracy")
ax.legend()
fig.tight_layout()
plt.show()
