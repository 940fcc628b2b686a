"""
Learn a dictionary from photos and look at it
=============================================

:func:`lca.learn_images` is ``lca learn`` from Python: it draws random 8×8 patches
from a folder of photos, removes each patch's mean, scales it to unit norm, codes
every minibatch with the LCA and moves the atoms towards what the codes leave
unexplained. A few hundred steps on three photos already give the familiar
picture: localised, oriented edges, some bars and gratings, and a few blobs.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import lca

# The repository's sample photos (a camera man, a cat, a cup of coffee).
images = Path("../../assets/images")  # run from docs/examples, as the gallery does

atoms, log, summary = lca.learn_images(
    images, n_components=64, patch_size=8, alpha=0.1, n_steps=400, random_state=0, n_jobs=2
)
print(f"{summary['steps']} steps, held-out objective {log['heldout_energy'][-1]:.4f}")

# %%
# Each atom is shown with its own symmetric contrast: mid-grey is 0, the value
# of largest magnitude black or white.

fig, axes = plt.subplots(8, 8, figsize=(6, 6))
for atom, ax in zip(atoms, axes.flat):
    m = np.abs(atom).max()
    ax.imshow(atom.reshape(8, 8), cmap="gray", vmin=-m, vmax=m, interpolation="nearest")
    ax.set_axis_off()
fig.suptitle("64 atoms of 8×8 pixels learned from 3 photos (400 steps)")
plt.show()

# %%
# The training log: the LASSO objective per patch of each minibatch, and of the
# held-out patches (the bottom of the images, never trained on).

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(log["step"], log["energy"], lw=0.8, label="minibatch")
held = np.isfinite(log["heldout_energy"])
ax.plot(log["step"][held], log["heldout_energy"][held], "o-", label="held out")
ax.set_xlabel("step")
ax.set_ylabel("objective per patch")
ax.legend()
fig.tight_layout()
plt.show()
