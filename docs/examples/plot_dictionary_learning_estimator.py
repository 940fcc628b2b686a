"""
Dictionary learning as a scikit-learn estimator
===============================================

:class:`lca.DictionaryLearning` follows scikit-learn's conventions (``fit``,
``transform``, ``inverse_transform``, ``components_``), so it drops into a
``Pipeline``. Here it learns 36 atoms from normalised 8×8 patches of a photo
(:func:`lca.extract_patches`) and the codes rebuild held-out patches.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import lca

assets = Path("../../assets/images")  # run from docs/examples, as the gallery does
img = plt.imread(assets / "coffee.png")[..., :3].mean(axis=2).astype(np.float32)
patches = lca.extract_patches(img, 8, stride=4, normalize=True)
rng = np.random.default_rng(0)
rng.shuffle(patches)
train, held_out = patches[:4000], patches[4000:4500]

est = lca.DictionaryLearning(n_components=36, alpha=0.1, n_steps=300, random_state=0, n_jobs=2).fit(train)
codes = est.transform(held_out)
rebuilt = est.inverse_transform(codes)
err = np.linalg.norm(rebuilt - held_out, axis=1).mean()
print(f"{np.count_nonzero(codes, axis=1).mean():.1f} atoms per patch; mean residual norm {err:.3f}")

# %%

fig, axes = plt.subplots(6, 6, figsize=(5, 5))
for atom, ax in zip(est.components_, axes.flat):
    m = np.abs(atom).max()
    ax.imshow(atom.reshape(8, 8), cmap="gray", vmin=-m, vmax=m, interpolation="nearest")
    ax.set_axis_off()
fig.suptitle("lca.DictionaryLearning(n_components=36).components_")
plt.show()
