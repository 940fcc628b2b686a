"""Convolutional coding of 1-D signals and 3-D volumes from Python: the
reconstruction contract against scipy.ndimage, optimality (KKT), parity with
`lca encode --dims`, the dims= rule, and ConvSparseCoder on both layouts."""

import subprocess

import numpy as np
import pytest

import lca


def unit(rng, shape):
    D = rng.standard_normal(shape).astype(np.float32)
    return (D / np.linalg.norm(D.reshape(shape[0], -1), axis=1).reshape((-1,) + (1,) * (len(shape) - 1))).astype(
        np.float32)


def direct_reconstruction(A, D, boundary):
    """sum_m convolve(A[m], D[m, c], mode='same') along every axis, written out with
    scipy.ndimage (origin shifted to scipy.signal's 'same' centring)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    n, m = A.shape[:2]
    c = D.shape[1]
    k = np.array(D.shape[2:])
    # scipy.signal 'same' keeps the full convolution from (k - 1) // 2; ndimage's
    # convolve centres at k // 2: shift by the difference.
    origin = tuple(int(v) for v in (k // 2 - (k - 1) // 2) * -1)
    mode = "wrap" if boundary == "circular" else "constant"
    out = np.zeros((n, c) + A.shape[2:])
    for i in range(n):
        for ch in range(c):
            for f in range(m):
                out[i, ch] += ndimage.convolve(A[i, f].astype(np.float64), D[f, ch].astype(np.float64),
                                               mode=mode, cval=0.0, origin=origin)
    return out


def gradient(X, D, A, boundary, dims):
    """D^T(DA - X) through conv_reconstruct and inner products with explicit atoms."""
    R = lca.conv_reconstruct(A, D, boundary=boundary, dims=dims).astype(np.float64) - X
    G = np.zeros(A.shape)
    for idx in np.ndindex(*A.shape[1:]):
        delta = np.zeros((1,) + A.shape[1:], np.float32)
        delta[(0,) + idx] = 1.0
        atom = lca.conv_reconstruct(delta, D, boundary=boundary, dims=dims)[0].astype(np.float64)
        G[(slice(None),) + idx] = np.tensordot(R, atom, axes=(tuple(range(1, R.ndim)), tuple(range(atom.ndim))))
    return G


CASES = [
    # dims, filters, signals
    (1, (3, 2, 7), (2, 2, 40)),
    (3, (2, 1, 2, 3, 3), (1, 1, 4, 6, 7)),
    (3, (2, 3, 3, 3), (1, 1, 5, 6, 6)),  # grey 3-D filters (M, kd, kh, kw)
]


@pytest.mark.parametrize("dims,fshape,xshape", CASES)
@pytest.mark.parametrize("boundary", ["circular", "zero"])
def test_codes_are_optimal_and_reconstruct_like_scipy(dims, fshape, xshape, boundary):
    rng = np.random.default_rng(sum(fshape) + len(boundary))
    D = unit(rng, fshape)
    X = rng.standard_normal(xshape).astype(np.float32)
    alpha = 0.1
    A, info = lca.conv_encode(X, D, alpha, boundary=boundary, tol=1e-5, max_iter=20000, dims=dims,
                              return_info=True)
    assert A.shape == (xshape[0], fshape[0]) + xshape[2:]
    assert info["converged"].all()
    D4 = D if D.ndim == dims + 2 else D[:, None]
    np.testing.assert_allclose(lca.conv_reconstruct(A, D, boundary=boundary, dims=dims),
                               direct_reconstruction(A, D4, boundary), atol=1e-5)
    G = gradient(X, D, A, boundary, dims)
    scale = np.abs(gradient(X, D, np.zeros_like(A), boundary, dims)).max()
    viol = np.where(A > 0, np.abs(G + alpha), np.where(A < 0, np.abs(G - alpha), np.maximum(np.abs(G) - alpha, 0)))
    assert viol.max() / scale < 1e-3
    objective = lca.conv_objective(X, D, A, alpha, boundary=boundary, dims=dims)
    np.testing.assert_allclose(objective, info["objective"], rtol=1e-6)


def test_dims_rule_and_errors():
    rng = np.random.default_rng(3)
    D = unit(rng, (4, 2, 9))
    X = rng.standard_normal((3, 2, 50)).astype(np.float32)
    # (4, 2, 9) with (3, 2, 50): 1-D over 2 channels, or 2-D 2x9 on a (C=3, 2, 50) image? Ask.
    with pytest.raises(ValueError, match="dims"):
        lca.conv_encode(X, D, 0.1)
    A = lca.conv_encode(X, D, 0.1, dims=1)
    assert A.shape == (3, 4, 50)
    assert lca.conv_encode(X[0], D, 0.1, dims="1").shape == (1, 4, 50)
    with pytest.raises(ValueError, match="1, 2 or 3"):
        lca.conv_encode(X, D, 0.1, dims=4)
    with pytest.raises(ValueError, match="smaller than the 9 filters"):
        lca.conv_encode(X[..., :5], D, 0.1, dims=1)
    with pytest.raises(ValueError, match="3-D convolutional dictionary"):
        lca.conv_encode(X, D, 0.1, dims=3)
    # Square 2-D filters with 2-D images keep their meaning (and accept dims=2).
    F = unit(rng, (4, 5, 5))
    imgs = rng.standard_normal((2, 12, 12)).astype(np.float32)
    np.testing.assert_array_equal(lca.conv_encode(imgs, F, 0.1), lca.conv_encode(imgs, F, 0.1, dims=2))
    # A rank-5 signal can only be a volume.
    V = rng.standard_normal((1, 1, 5, 8, 8)).astype(np.float32)
    assert lca.conv_encode(V, unit(rng, (2, 1, 3, 3, 3)), 0.1).shape == (1, 2, 5, 8, 8)


def test_same_codes_as_the_cli(tmp_path, lca_bin):
    rng = np.random.default_rng(5)
    D = unit(rng, (3, 1, 3, 4, 4))
    V = rng.standard_normal((2, 1, 5, 9, 10)).astype(np.float32)
    np.save(tmp_path / "D.npy", D)
    np.save(tmp_path / "V.npy", V)
    for mode in (["--mode", "spiking", "--time-steps", "64", "--fixed-point"], []):
        subprocess.run([lca_bin, "encode", "-d", "D.npy", "-i", "V.npy", "-o", "A.npy", "--dims", "3",
                        "--boundary", "zero", "--quiet"] + mode, cwd=tmp_path, check=True)
        py = lca.conv_encode(V, D, 0.1, boundary="zero", dims=3,
                             **(dict(mode="spiking", time_steps=64, fixed_point=True) if mode else {}))
        np.testing.assert_array_equal(np.load(tmp_path / "A.npy"), py)


def test_conv_sparse_coder_on_signals_and_volumes():
    rng = np.random.default_rng(7)
    D = unit(rng, (4, 2, 9))
    X = rng.standard_normal((3, 2, 60)).astype(np.float32)
    coder = lca.ConvSparseCoder(D, alpha=0.1, dims=1)
    A = coder.fit(X).transform(X)
    np.testing.assert_array_equal(A, lca.conv_encode(X, D, 0.1, dims=1))
    assert coder.inverse_transform(A).shape == X.shape
    V = rng.standard_normal((1, 1, 6, 8, 8)).astype(np.float32)
    F = unit(rng, (2, 3, 3, 3))
    coder = lca.ConvSparseCoder(F, alpha=0.1, boundary="zero")
    B = coder.transform(V)
    assert B.shape == (1, 2, 6, 8, 8)
    np.testing.assert_allclose(coder.inverse_transform(B), lca.conv_reconstruct(B, F, boundary="zero"))
    with pytest.raises(ValueError, match="dims"):
        lca.ConvSparseCoder(D, alpha=0.1).transform(X)
