"""
Convolutional coding of a photo
===============================

Patch coding describes every 8×8 window separately; convolutional sparse coding
describes the whole image at once as a sum of small filters placed where they are
needed: ``x ≈ Σ_m D_m * A_m`` with sparse maps ``A_m``. Here
:class:`lca.ConvDictionaryLearning` learns 16 filters of 8×8 from crops of a
photo (high-passed, as SPORCO does, so the filters model edges and texture rather
than the smooth shading), and :func:`lca.conv_encode` codes another photo with
them. Each map shows *where* its filter fires.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import lca

assets = Path("../../assets/images")  # run from docs/examples, as the gallery does


def gray(name, size=128, at=(0, 0)):
    img = plt.imread(assets / name).astype(np.float32)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    y, x = at
    return img[y:y + size, x:x + size]


def highpass(img, sigma=2.0):
    """The image minus a Gaussian blur (in the Fourier domain, circular)."""
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.fftfreq(img.shape[1])[None, :]
    blur = np.exp(-2 * (np.pi * sigma) ** 2 * (fx ** 2 + fy ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(img) * (1 - blur))).astype(np.float32)


train = np.stack([highpass(gray("chelsea.png", 96, at)) for at in [(0, 0), (100, 150), (200, 300)]])
model = lca.ConvDictionaryLearning(n_components=16, kernel_size=8, alpha=0.05, n_steps=60, crop=64,
                                   random_state=0, n_jobs=2).fit(train[:, None])
filters = model.components_  # (16, 1, 8, 8), PyTorch's conv-weight layout

photo = gray("camera.png", 128, (64, 160))
x = highpass(photo)
codes = lca.conv_encode(x, filters, alpha=0.05, n_jobs=2)[0]  # (16, 128, 128)
rebuilt = lca.conv_reconstruct(codes, filters)[0, 0]
print(f"{np.count_nonzero(codes)} non-zero coefficients for {x.size} pixels; "
      f"relative error {np.linalg.norm(rebuilt - x) / np.linalg.norm(x):.3f}")

# %%
# The learned filters, each with its own symmetric contrast.

fig, axes = plt.subplots(2, 8, figsize=(8, 2.2))
for f, ax in zip(filters[:, 0], axes.flat):
    m = np.abs(f).max()
    ax.imshow(f, cmap="gray", vmin=-m, vmax=m, interpolation="nearest")
    ax.set_axis_off()
fig.suptitle("16 convolutional filters of 8×8")
plt.show()

# %%
# The six strongest maps (largest ℓ1 norm) over a faded copy of the photo: red
# where the code is positive, blue where negative, more opaque where stronger.
# Each coefficient is drawn 3×3 pixels wide so that isolated ones stay visible.


def code_overlay(code):
    """RGBA image of a code map: red / blue, opacity rising with |code|."""
    strength = np.abs(code) / np.abs(code).max()
    alpha = np.where(code != 0, 0.35 + 0.65 * np.sqrt(strength), 0.0)
    signs = np.sign(code)
    best_alpha, best_sign = alpha.copy(), signs.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            a = np.roll(alpha, (dy, dx), axis=(0, 1))
            s = np.roll(signs, (dy, dx), axis=(0, 1))
            stronger = a > best_alpha
            best_alpha[stronger], best_sign[stronger] = a[stronger], s[stronger]
    rgba = np.zeros(code.shape + (4,))
    rgba[..., 0] = np.where(best_sign > 0, 0.8, 0.05)
    rgba[..., 1] = np.where(best_sign > 0, 0.05, 0.25)
    rgba[..., 2] = np.where(best_sign > 0, 0.05, 0.85)
    rgba[..., 3] = best_alpha
    return rgba


order = np.argsort(-np.abs(codes).sum(axis=(1, 2)))[:6]
fig, axes = plt.subplots(2, 4, figsize=(10, 5))
axes[0, 0].imshow(photo, cmap="gray", vmin=0, vmax=1)
axes[0, 0].set_title("photo")
axes[1, 0].imshow(rebuilt, cmap="gray")
axes[1, 0].set_title("Σ D_m * A_m")
total = np.abs(codes).sum()
for ax, m in zip(axes[:, 1:].T.flat, order):
    ax.imshow(photo, cmap="gray", vmin=-1.0, vmax=1.6)
    ax.imshow(code_overlay(codes[m]), interpolation="nearest")
    inset = ax.inset_axes([0.0, 0.78, 0.22, 0.22])
    inset.imshow(filters[m, 0], cmap="gray", interpolation="nearest")
    inset.set_axis_off()
    ax.set_title(f"filter {m}: {100 * np.abs(codes[m]).sum() / total:.0f}% of |A|")
for ax in axes.flat:
    ax.set_axis_off()
fig.tight_layout()
plt.show()
