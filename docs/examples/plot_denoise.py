"""
Denoise an image
================

Sparse codes over a dictionary learned from *other* photos keep what looks like
natural-image structure (edges, smooth shading) and drop most of the noise:
:func:`lca.reconstruct_image` tiles the image into overlapping 8×8 patches, codes
each one, rebuilds it from its atoms and averages the overlaps.
"""

import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import lca

assets = Path("../../assets/images")  # run from docs/examples, as the gallery does
photo = plt.imread(assets / "camera.png").astype(np.float32)
if photo.ndim == 3:
    photo = photo[..., :3].mean(axis=2)
clean = photo[64:192, 160:288]  # a 128×128 crop: the camera man's face and camera

rng = np.random.default_rng(0)
sigma = 0.08
noisy = np.clip(clean + sigma * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)

# %%
# A dictionary learned from the two other photos (the cat and the coffee cup).

with tempfile.TemporaryDirectory() as folder:
    for name in ("chelsea.png", "coffee.png"):
        shutil.copy(assets / name, folder)
    atoms, _, _ = lca.learn_images(folder, n_components=128, n_steps=400, random_state=0, n_jobs=2)

# %%
# Coding with a larger ``alpha`` keeps fewer atoms per patch: more noise removed,
# and eventually detail too. Patches are normalised to unit norm before coding,
# so ``alpha`` is relative to each patch's contrast.


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


alphas = [0.03, 0.06, 0.1, 0.2]
denoised = [lca.reconstruct_image(noisy, atoms, alpha=a, stride=2, n_jobs=2) for a in alphas]
scores = [psnr(d, clean) for d in denoised]
best = int(np.argmax(scores))
print(f"noisy: {psnr(noisy, clean):.2f} dB; " +
      ", ".join(f"alpha={a}: {s:.2f} dB" for a, s in zip(alphas, scores)))

fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
for ax, img, title in zip(
    axes,
    (clean, noisy, denoised[best]),
    ("clean", f"noisy, {psnr(noisy, clean):.1f} dB",
     f"denoised (alpha={alphas[best]}), {scores[best]:.1f} dB"),
):
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
fig.tight_layout()
plt.show()
