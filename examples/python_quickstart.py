#!/usr/bin/env python3
"""lca from Python in one page: learn a dictionary from image patches, encode with
the rate and the spiking LCA, check the codes against the LASSO objective, and
rebuild an image, patch by patch and convolutionally. Runs in a few seconds on 2 cores.

    pip install .            # from the repository root (needs a Rust toolchain)
    python3 examples/python_quickstart.py [IMAGE_FOLDER]
"""
import sys

import numpy as np

import lca

folder = sys.argv[1] if len(sys.argv) > 1 else None  # None: the embedded sample images

# 1. A dictionary learned from random 8x8 patches of the images (`lca learn`'s loop).
D, log, summary = lca.learn_images(folder, n_components=64, n_steps=300, batch_size=128, downscale=2.0,
                                   heldout_patches=256)
print(f"learned {D.shape[0]} atoms in {summary['steps']} steps ({summary['seconds']:.1f} s); "
      f"held-out objective {summary['heldout_energy']:.4f}")

# 2. Patches of one image, mean-removed and unit-norm, and their LASSO codes.
rng = np.random.default_rng(0)
image = np.clip(np.cumsum(np.cumsum(rng.standard_normal((64, 64)), 0), 1) / 60 + 0.5, 0, 1).astype(np.float32)
X = lca.extract_patches(image, 8, stride=4, normalize=True)
A = lca.sparse_encode(X, D, alpha=0.1, n_jobs=2)
spikes = lca.sparse_encode(X, D, alpha=0.1, mode="spiking", n_jobs=2)
obj, obj_spiking = lca.lasso_objective(X, D, A, 0.1), lca.lasso_objective(X, D, spikes, 0.1)
print(f"{len(X)} patches: {np.mean(A != 0) * D.shape[0]:.1f} active atoms per patch, "
      f"objective {obj.mean():.4f} (rate), {obj_spiking.mean():.4f} (spiking)")

# 3. The same with scikit-learn conventions: fit on patches, transform, invert.
est = lca.DictionaryLearning(n_components=32, n_steps=200, batch_size=64, random_state=0).fit(X)
codes = est.transform(X)
err = np.linalg.norm(est.inverse_transform(codes) - X) / np.linalg.norm(X)
print(f"DictionaryLearning: {est.n_iter_} steps, relative reconstruction error {err:.3f}")

# 4. Rebuild the whole image from the codes of its overlapping patches.
rec, _, psnr = lca.reconstruct_image(image, D, alpha=0.05, return_codes=True)
print(f"reconstruction PSNR {psnr:.2f} dB")

# 5. Convolutional coding of the whole image: filters in PyTorch's (M, C, k, k) layout.
conv = lca.ConvDictionaryLearning(n_components=8, kernel_size=7, n_steps=20, crop=32, random_state=0)
conv.fit(image[None, None] - image.mean())
maps = lca.conv_encode(image[None, None] - image.mean(), conv.components_, alpha=0.05)
rebuilt = lca.conv_reconstruct(maps, conv.components_) + image.mean()
print(f"convolutional: filters {conv.components_.shape}, codes {maps.shape}, "
      f"{np.mean(maps != 0):.3%} non-zero, relative error "
      f"{np.linalg.norm(rebuilt[0, 0] - image) / np.linalg.norm(image - image.mean()):.3f}")
