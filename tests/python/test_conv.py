"""Convolutional coding from Python: CLI parity, the scipy reconstruction
contract, optimality, and the convolutional estimators."""

import json
import subprocess

import numpy as np
import pytest

import lca


def unit_filters(rng, m, c, k):
    D = rng.standard_normal((m, c, k, k)).astype(np.float32)
    return (D / np.linalg.norm(D.reshape(m, -1), axis=1)[:, None, None, None]).astype(np.float32)


def smooth_images(rng, n, c, h, w):
    """Images with structure (cumulated noise, scaled to about [-1, 1])."""
    X = np.cumsum(np.cumsum(rng.standard_normal((n, c, h, w)), axis=2), axis=3)
    X -= X.mean(axis=(2, 3), keepdims=True)
    return (X / np.abs(X).max(axis=(1, 2, 3), keepdims=True)).astype(np.float32)


def scipy_reconstruction(A, D, boundary):
    """sum_m convolve2d(A[m], D[m, c], mode='same', boundary=B), written out with scipy."""
    signal = pytest.importorskip("scipy.signal")
    n, m, h, w = A.shape
    c = D.shape[1]
    out = np.zeros((n, c, h, w))
    for i in range(n):
        for ch in range(c):
            for f in range(m):
                out[i, ch] += signal.convolve2d(A[i, f].astype(np.float64), D[f, ch].astype(np.float64),
                                                mode="same", boundary=boundary)
    return out


@pytest.mark.parametrize("k", [4, 5])
@pytest.mark.parametrize("boundary,scipy_name", [("circular", "wrap"), ("zero", "fill")])
def test_reconstruction_is_scipys_convolve2d_sum(k, boundary, scipy_name):
    rng = np.random.default_rng(k)
    D = unit_filters(rng, 3, 2, k)
    A = (rng.standard_normal((2, 3, 11, 13)) * (rng.random((2, 3, 11, 13)) < 0.2)).astype(np.float32)
    ours = lca.conv_reconstruct(A, D, boundary=boundary)
    assert ours.shape == (2, 2, 11, 13) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, scipy_reconstruction(A, D, scipy_name), atol=1e-5)
    # The objective is the engine's, on the same reconstruction.
    X = rng.standard_normal((2, 2, 11, 13)).astype(np.float32)
    want = 0.5 * ((X - scipy_reconstruction(A, D, scipy_name)) ** 2).sum(axis=(1, 2, 3)) + 0.1 * np.abs(A).sum(
        axis=(1, 2, 3))
    np.testing.assert_allclose(lca.conv_objective(X, D, A, 0.1, boundary=boundary), want, rtol=1e-5)


@pytest.mark.parametrize("boundary,scipy_name", [("circular", "wrap"), ("zero", "fill")])
def test_codes_satisfy_the_convolutional_lasso_optimality_conditions(boundary, scipy_name):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    D = unit_filters(rng, 4, 1, 5)
    X = smooth_images(rng, 2, 1, 20, 18)
    alpha = 0.2
    A, info = lca.conv_encode(X, D, alpha, boundary=boundary, tol=1e-4, max_iter=5000, return_info=True)
    assert A.shape == (2, 4, 20, 18) and info["converged"].all()
    # Gradient of the data term: the adjoint of the scipy reconstruction (correlation
    # with each filter, odd k); checked to be the adjoint before it is used.
    R = X[:, 0].astype(np.float64) - scipy_reconstruction(A, D, scipy_name)[:, 0]
    G = np.stack([[signal.correlate2d(R[i], D[f, 0].astype(np.float64), mode="same", boundary=scipy_name)
                   for f in range(4)] for i in range(2)])
    probe = rng.standard_normal(A.shape)
    lhs = (scipy_reconstruction(probe, D, scipy_name)[:, 0] * R).sum()
    assert abs(lhs - (probe * G).sum()) < 1e-8 * max(1, abs(lhs))
    B = np.stack([[signal.correlate2d(X[i, 0].astype(np.float64), D[f, 0].astype(np.float64), mode="same",
                                      boundary=scipy_name) for f in range(4)] for i in range(2)])
    scale = np.abs(B).max()  # the solver's tolerance is relative to max|b| (tol=1e-4 asked)
    assert (A != 0).any()
    # KKT conditions in fixed-point form, the measure the solver's tol bounds:
    # A = T(A + G) with T the soft threshold at alpha (A + G is each neuron's input u).
    U = A + G
    residual = A - np.sign(U) * np.maximum(np.abs(U) - alpha, 0)
    assert np.abs(residual).max() <= 2e-4 * scale
    np.testing.assert_allclose(info["objective"], lca.conv_objective(X, D, A, alpha, boundary=boundary), rtol=1e-6)


@pytest.mark.parametrize("flags,kwargs", [
    ([], {}),
    (["--boundary", "zero"], {"boundary": "zero"}),
    (["--nonneg", "--tol", "1e-4", "--max-iters", "40"], {"positive": True, "tol": 1e-4, "max_iter": 40}),
    (["--mode", "spiking", "--time-steps", "64"], {"mode": "spiking", "time_steps": 64}),
    (["--mode", "spiking", "--time-steps", "64", "--fixed-point", "--dt", "0.25"],
     {"mode": "spiking", "time_steps": 64, "fixed_point": True, "dt": 0.25}),
])
@pytest.mark.parametrize("channels", [1, 3])
def test_codes_equal_the_clis_bit_for_bit(tmp_path, lca_bin, flags, kwargs, channels):
    rng = np.random.default_rng(channels)
    D = unit_filters(rng, 5, channels, 5)
    X = smooth_images(rng, 3, channels, 16, 19)
    np.save(tmp_path / "D.npy", D)
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "A.npy"
    proc = subprocess.run([lca_bin, "encode", "-d", tmp_path / "D.npy", "-i", tmp_path / "X.npy", "-o", out,
                           "--lambda", "0.08", "--threads", "2", "--json", *flags], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    A, info = lca.conv_encode(X, D, 0.08, n_jobs=1, return_info=True, **kwargs)
    np.testing.assert_array_equal(A, np.load(out))
    np.testing.assert_array_equal(info["objective"], summary["objectives"])


def test_layouts_dtypes_and_threads():
    rng = np.random.default_rng(5)
    D = unit_filters(rng, 3, 1, 3)
    X = smooth_images(rng, 4, 1, 12, 12)
    A = lca.conv_encode(X, D, 0.1, n_jobs=1)
    np.testing.assert_array_equal(lca.conv_encode(X[:, 0], D[:, 0], 0.1, n_jobs=2), A)  # (n, H, W), (M, k, k)
    np.testing.assert_array_equal(lca.conv_encode(X.astype(np.float64), D, 0.1), A)
    np.testing.assert_array_equal(lca.conv_encode(np.asfortranarray(X), D, 0.1), A)
    np.testing.assert_array_equal(lca.conv_encode(X[1, 0], D, 0.1), A[1:2])  # one (H, W) image
    assert lca.conv_encode(X, D, 0.1, positive=True).min() >= 0
    assert lca.conv_encode(X, D, 0.1, mode="spiking", time_steps=32).min() >= 0


def test_errors_are_value_errors_naming_the_problem():
    rng = np.random.default_rng(6)
    D = unit_filters(rng, 3, 2, 5)
    X = smooth_images(rng, 2, 2, 12, 12)
    with pytest.raises(ValueError, match="norm"):
        lca.conv_encode(X, 2 * D, 0.1)
    assert lca.conv_encode(X, 2 * D, 0.1, normalize=True).shape == (2, 3, 12, 12)
    with pytest.raises(ValueError, match="channel"):
        lca.conv_encode(X[:, :1], D, 0.1)
    with pytest.raises(ValueError, match="stack"):
        lca.conv_encode(X[0], D, 0.1)
    with pytest.raises(ValueError, match="smaller"):
        lca.conv_encode(X[:, :, :4, :4], D, 0.1)
    with pytest.raises(ValueError, match="boundary"):
        lca.conv_encode(X, D, 0.1, boundary="reflect")
    with pytest.raises(ValueError, match="lambda"):
        lca.conv_encode(X, D, -1.0)
    with pytest.raises(TypeError, match="mode='rate'"):
        lca.conv_encode(X, D, 0.1, settle=3)
    X[0, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        lca.conv_encode(X, D, 0.1)


def test_conv_sparse_coder_transform_and_inverse():
    rng = np.random.default_rng(7)
    D = unit_filters(rng, 4, 1, 5)
    X = smooth_images(rng, 3, 1, 14, 15)
    coder = lca.ConvSparseCoder(D, alpha=0.05)
    A = coder.fit_transform(X)
    np.testing.assert_array_equal(A, lca.conv_encode(X, D, 0.05))
    np.testing.assert_allclose(coder.inverse_transform(A), lca.conv_reconstruct(A, D), atol=0)
    # A pipeline's view: one flattened image per row, flat codes back.
    flat = lca.ConvSparseCoder(D, alpha=0.05, image_shape=(14, 15))
    F = flat.fit_transform(X.reshape(3, -1))
    assert F.shape == (3, 4 * 14 * 15)
    np.testing.assert_array_equal(F, A.reshape(3, -1))
    np.testing.assert_allclose(flat.inverse_transform(F), lca.conv_reconstruct(A, D).reshape(3, -1), atol=0)
    with pytest.raises(ValueError, match="image_shape"):
        lca.ConvSparseCoder(D).fit_transform(X.reshape(3, -1))
    # Fixed point: the function's codes; refused in rate mode.
    spiking = lca.ConvSparseCoder(D, alpha=0.05, mode="spiking", time_steps=64, fixed_point=True)
    np.testing.assert_array_equal(spiking.fit_transform(X),
                                  lca.conv_encode(X, D, 0.05, mode="spiking", time_steps=64, fixed_point=True))
    with pytest.raises(ValueError, match="fixed_point"):
        lca.ConvSparseCoder(D, fixed_point=True).fit_transform(X)


def test_conv_dictionary_learning_lowers_the_objective_and_is_deterministic():
    rng = np.random.default_rng(8)
    X = smooth_images(rng, 4, 1, 32, 32)
    est = lca.ConvDictionaryLearning(n_components=6, kernel_size=5, alpha=0.05, n_steps=12, crop=20,
                                     images_per_step=2, random_state=1, n_jobs=2)
    assert est.fit(X) is est
    D = est.components_
    assert D.shape == (6, 1, 5, 5) and est.n_iter_ == 12 and est.status_ == "completed"
    np.testing.assert_allclose(np.linalg.norm(D.reshape(6, -1), axis=1), 1, atol=1e-5)
    assert len(est.training_log_["energy"]) == 12
    # Learned filters code the images better than the initial windows (the learner's start).
    start = lca.ConvDictionaryLearning(n_components=6, kernel_size=5, alpha=0.05, n_steps=1, crop=20,
                                       images_per_step=2, random_state=1, dict_sweeps=1).fit(X)
    learned = lca.conv_objective(X, D, est.transform(X), 0.05).sum()
    init = lca.conv_objective(X, start.components_, start.transform(X), 0.05).sum()
    assert learned < init
    again = lca.ConvDictionaryLearning(n_components=6, kernel_size=5, alpha=0.05, n_steps=12, crop=20,
                                       images_per_step=2, random_state=1, n_jobs=1).fit(X)
    np.testing.assert_array_equal(again.components_, D)
    codes = est.transform(X)
    assert codes.shape == (4, 6, 32, 32)
    assert est.inverse_transform(codes).shape == X.shape
    # partial_fit: one step per call on the whole images given.
    pf = lca.ConvDictionaryLearning(n_components=3, kernel_size=3, random_state=0)
    pf.partial_fit(X[:2]).partial_fit(X[2:])
    assert pf.n_iter_ == 2 and pf.components_.shape == (3, 1, 3, 3)


def write_grey_png(path, image):
    """An 8-bit greyscale PNG of a uint8 array (H, W), written with the standard library."""
    import struct
    import zlib

    h, w = image.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + image[y].tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def test_conv_learning_equals_lca_learn_conv_bit_for_bit(tmp_path, lca_bin):
    """ConvDictionaryLearning on arrays and `lca learn --conv` on the same
    images as PNG files (no high-pass, none held out) learn the same filters
    and log the same statistics, bit for bit."""
    rng = np.random.default_rng(3)
    grey = (smooth_images(rng, 3, 1, 40, 36)[:, 0] * 127.5 + 127.5).astype(np.uint8)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(grey):
        write_grey_png(folder / f"im{i}.png", image)
    X = (grey.astype(np.float32) / np.float32(255))[:, None]
    out = tmp_path / "run"
    proc = subprocess.run([lca_bin, "learn", "--conv", folder, "-o", out, "--quiet", "--atoms", "6",
                           "--kernel-size", "5", "--crop", "16", "--steps", "7", "--seed", "4", "--lambda", "0.05",
                           "--highpass", "0", "--heldout-images", "0"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    est = lca.ConvDictionaryLearning(n_components=6, kernel_size=5, alpha=0.05, crop=16, n_steps=7,
                                     random_state=4).fit(X)
    cli = np.load(out / "dictionary.npy")
    assert cli.shape == (6, 5, 5) and cli.dtype == np.float32
    np.testing.assert_array_equal(est.components_[:, 0], cli)
    log = np.genfromtxt(out / "training.csv", delimiter=",", names=True)
    for column in ("step", "mse", "l1", "active_fraction", "energy"):
        np.testing.assert_array_equal(est.training_log_[column], log[column], err_msg=column)


def test_check_estimator_conv_estimators():
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    rng = np.random.default_rng(9)
    # scikit-learn's checks pass 2-D data of any width: each row is then a
    # one-pixel-high image, which only 1x1 filters fit. The checks exercise the
    # estimator conventions; the convolution itself is tested above.
    D = unit_filters(rng, 4, 1, 1)
    n_iter = {"check_transformer_n_iter": "max_iter bounds each image's solver sweeps; a stateless coder has "
                                          "no fit iterations to report in n_iter_"}
    checks.check_estimator(lca.ConvSparseCoder(D), expected_failed_checks=n_iter, on_fail="raise")
    est = lca.ConvDictionaryLearning(n_components=3, kernel_size=1, n_steps=5, crop=0)
    checks.check_estimator(est, expected_failed_checks={}, on_fail="raise")
