"""ConvDictionaryLearning on 1-D signals (n, C, T) and 3-D volumes (n, C, D, H, W):
filters in PyTorch's layout of the dimension, the learned filters code the
signals better than the initial windows, determinism, and the CLI agreement."""

import numpy as np
import pytest

import lca


def bursts(rng, n, c, t):
    """Signals of decaying oscillations at random places (scaled to about [-1, 1])."""
    X = np.zeros((n, c, t), np.float32)
    taps = np.arange(40)
    for i in range(n):
        for _ in range(t // 30):
            at, f = rng.integers(0, t - 40), rng.choice([0.12, 0.3])
            X[i, :, at:at + 40] += (np.exp(-taps / 8) * np.sin(2 * np.pi * f * taps))[None] * rng.standard_normal((c, 1))
    return X


def test_dims_1_learns_temporal_kernels():
    rng = np.random.default_rng(3)
    X = bursts(rng, 4, 2, 600)
    kw = dict(n_components=5, kernel_size=11, alpha=0.05, crop=200, images_per_step=2, random_state=2, dims=1)
    est = lca.ConvDictionaryLearning(n_steps=10, **kw).fit(X)
    D = est.components_
    assert D.shape == (5, 2, 11) and est.n_iter_ == 10 and est.status_ == "completed"
    np.testing.assert_allclose(np.linalg.norm(D.reshape(5, -1), axis=1), 1, atol=1e-5)
    start = lca.ConvDictionaryLearning(n_steps=1, dict_sweeps=1, **kw).fit(X)
    learned = lca.conv_objective(X, D, est.transform(X), 0.05, dims=1).sum()
    init = lca.conv_objective(X, start.components_, start.transform(X), 0.05, dims=1).sum()
    assert learned < init
    again = lca.ConvDictionaryLearning(n_steps=10, n_jobs=1, **kw).fit(X)
    np.testing.assert_array_equal(again.components_, D)
    codes = est.transform(X)
    assert codes.shape == (4, 5, 600)
    assert est.inverse_transform(codes).shape == X.shape
    est.partial_fit(X[:2])
    assert est.n_iter_ == 11


def test_dims_1_defaults_come_from_the_library():
    X = bursts(np.random.default_rng(1), 2, 1, 5000)
    est = lca.ConvDictionaryLearning(n_components=2, n_steps=1, dims=1, random_state=0).fit(X)
    assert est.components_.shape == (2, 1, 128)


def test_dims_3_learns_volume_kernels_and_a_5d_array_needs_no_dims():
    rng = np.random.default_rng(4)
    X = np.cumsum(rng.standard_normal((3, 1, 8, 12, 12)), axis=3).astype(np.float32)
    X /= np.abs(X).max()
    kw = dict(n_components=3, kernel_size=3, kernel_depth=2, crop=8, crop_depth=4, alpha=0.05, random_state=1)
    est = lca.ConvDictionaryLearning(n_steps=4, dims=3, **kw).fit(X)
    assert est.components_.shape == (3, 1, 2, 3, 3)
    inferred = lca.ConvDictionaryLearning(n_steps=4, **kw).fit(X)
    np.testing.assert_array_equal(inferred.components_, est.components_)
    assert est.transform(X).shape == (3, 3, 8, 12, 12)


def test_cli_and_python_learn_the_same_temporal_kernels(tmp_path, lca_bin):
    import subprocess

    X = bursts(np.random.default_rng(5), 3, 1, 700)
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "run"
    subprocess.run([lca_bin, "learn", "--conv", "--dims", "1", str(tmp_path / "x.npy"), "--atoms", "4",
                    "--kernel-size", "9", "--crop", "256", "--steps", "5", "--seed", "3", "--lambda", "0.05",
                    "--heldout-images", "0", "--quiet", "--output", str(out)], check=True)
    est = lca.ConvDictionaryLearning(n_components=4, kernel_size=9, crop=256, n_steps=5, alpha=0.05,
                                     random_state=3, dims=1).fit(X)
    np.testing.assert_array_equal(np.load(out / "dictionary.npy"), est.components_)


def test_rank_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"\(n, C, T\)"):
        lca.ConvDictionaryLearning(dims=1).fit(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="dims"):
        lca.ConvDictionaryLearning(dims=4).fit(np.zeros((2, 1, 8), np.float32))
