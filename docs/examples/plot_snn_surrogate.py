"""
Train a spiking network with surrogate gradients
================================================

:func:`lca.snn.train` trains a network of current-based leaky integrate-and-fire
neurons by backpropagation through time. A spike is a step function of the
membrane potential, whose derivative is zero almost everywhere; the surrogate
gradient method replaces that derivative, on the backward pass only, by a smooth
bump (here the fast sigmoid). The data set is Yin-Yang: points of a square
classified into the yin, the yang and the dots, which no linear classifier
separates.
"""

import matplotlib.pyplot as plt
import numpy as np

import lca.snn

train, validation, test = lca.snn.load_dataset("yinyang")
X, y = train[0][:1500], train[1][:1500]  # a subset keeps the example fast
model, log = lca.snn.train(X, y, validation=validation, dataset="yinyang", method="surrogate",
                           surrogate="fast-sigmoid", hidden=[64], epochs=8, seed=0, scale=False, n_jobs=2)
print(f"test accuracy {model.evaluate(*test):.3f}")
print("log columns:", ", ".join(log))

# %%

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
epochs = log["epoch"]
for key in ("train_accuracy", "validation_accuracy"):
    if key in log:
        ax1.plot(epochs, log[key], "o-", label=key.replace("_", " "))
ax1.set_xlabel("epoch")
ax1.set_ylabel("accuracy")
ax1.legend()
Xt, yt = test
ax2.scatter(Xt[:, 0], Xt[:, 1], c=yt, s=6, cmap="viridis")
ax2.set_aspect("equal")
ax2.set_title("Yin-Yang test points (x, y)")
fig.tight_layout()
plt.show()
