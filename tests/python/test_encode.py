"""lca.sparse_encode: optimality, the alpha mapping, layouts, threads, CLI parity, errors."""

import json
import subprocess

import numpy as np
import pytest

import lca
from conftest import unit_rows


def objective(X, D, A, lam):
    X, D, A = (np.asarray(v, dtype=np.float64) for v in (X, D, A))
    r = X - A @ D
    return 0.5 * (r * r).sum(axis=1) + lam * np.abs(A).sum(axis=1)


def test_codes_satisfy_the_lasso_optimality_conditions(problem):
    X, D = problem
    lam = 0.1
    A = lca.sparse_encode(X, D, lam)
    assert A.shape == (300, 24) and A.dtype == np.float32
    grad = (X.astype(np.float64) - A @ D.astype(np.float64)) @ D.T.astype(np.float64)
    active = A != 0
    # Active atoms: correlation equals lambda * sign; inactive: at most lambda.
    assert np.abs(grad[active] - lam * np.sign(A[active])).max() < 2e-3
    assert np.abs(grad[~active]).max() < lam * (1 + 2e-3)
    assert 0 < active.mean() < 0.9


def test_alpha_is_scikit_learns_lasso_cd_alpha_and_spams_lambda1(problem):
    sk = pytest.importorskip("sklearn.decomposition")
    X, D = problem
    lam = 0.1
    ours = lca.sparse_encode(X, D, lam)
    ref = sk.sparse_encode(X.astype(np.float64), D.astype(np.float64), algorithm="lasso_cd", alpha=lam,
                           max_iter=5000)
    o, r = objective(X, D, ours, lam), objective(X, D, ref, lam)
    # Same minimiser: objectives agree to solver precision (a different alpha
    # scaling, e.g. alpha / n_features, would differ by far more).
    assert np.abs(o - r).max() / r.mean() < 1e-4
    assert np.abs(ours - ref).max() < 1e-2
    other = objective(X, D, sk.sparse_encode(X, D, algorithm="lasso_cd", alpha=lam / 16), lam)
    assert (other - o).mean() > 1e-2


def test_objective_function_is_the_engines(problem):
    X, D = problem
    A = lca.sparse_encode(X, D, 0.2)
    np.testing.assert_allclose(lca.lasso_objective(X, D, A, 0.2), objective(X, D, A, 0.2), rtol=1e-5)


def test_float64_and_fortran_order_give_the_float32_codes(problem):
    X, D = problem
    A = lca.sparse_encode(X, D, 0.1)
    np.testing.assert_array_equal(lca.sparse_encode(np.asfortranarray(X), D, 0.1), A)
    np.testing.assert_array_equal(lca.sparse_encode(X.astype(np.float64), D.astype(np.float64), 0.1), A)
    np.testing.assert_array_equal(lca.sparse_encode(X[::1], np.asfortranarray(D), 0.1), A)
    # A strided view (every other row) equals encoding the copied rows.
    np.testing.assert_array_equal(lca.sparse_encode(X[::2], D, 0.1), lca.sparse_encode(X[::2].copy(), D, 0.1))


def test_results_do_not_depend_on_threads(problem):
    X, D = problem
    one = lca.sparse_encode(X, D, 0.1, n_jobs=1)
    np.testing.assert_array_equal(one, lca.sparse_encode(X, D, 0.1, n_jobs=2))
    np.testing.assert_array_equal(one, lca.sparse_encode(X, D, 0.1, n_jobs=-1))
    with pytest.raises(ValueError):
        lca.sparse_encode(X, D, 0.1, n_jobs=0)


def test_sparse_output_and_positive_codes(problem):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, D = problem
    A = lca.sparse_encode(X, D, 0.1, positive=True)
    assert A.min() >= 0 and (A > 0).any()
    S = lca.sparse_encode(X, D, 0.1, positive=True, sparse=True)
    assert scipy_sparse.isspmatrix_csr(S)
    np.testing.assert_array_equal(S.toarray(), A)


def test_warm_start_and_info(problem):
    X, D = problem
    A, info = lca.sparse_encode(X, D, 0.1, return_info=True)
    assert info["converged"].all() and info["states"].shape == A.shape
    B, info2 = lca.sparse_encode(X, D, 0.1, init=info["states"], return_info=True)
    # Starting at the solution: same objective (to the tolerance), fewer jumps.
    o, ob = objective(X, D, A, 0.1), objective(X, D, B, 0.1)
    assert np.abs(ob - o).max() / o.mean() < 1e-5
    assert info2["jumps"].sum() < info["jumps"].sum()


def test_spiking_mode_approaches_the_lasso_solution(problem):
    X, D = problem
    exact = objective(X, D, lca.sparse_encode(X, D, 0.1), 0.1)
    A, info = lca.sparse_encode(X, D, 0.1, mode="spiking", time_steps=512, return_info=True)
    assert info["spike_counts"].shape == (300,)
    got = objective(X, D, A, 0.1)
    assert (got >= exact - 1e-4).all() and (got.mean() - exact.mean()) / exact.mean() < 0.1
    fixed = lca.sparse_encode(X, D, 0.1, mode="spiking", fixed_point=True)
    assert fixed.shape == A.shape
    with pytest.raises(TypeError, match="tau"):
        lca.sparse_encode(X, D, 0.1, mode="spiking", tau=2.0)
    with pytest.raises(ValueError):
        lca.sparse_encode(X, D, 0.1, mode="spiking", tol=1e-3)


def test_hard_and_firm_thresholds(problem):
    X, D = problem
    hard = lca.sparse_encode(X, D, 0.1, threshold="hard", anneal_from=4.0)
    firm = lca.sparse_encode(X, D, 0.1, threshold="firm", firm_width=0.2)
    # The hard threshold passes states above lambda unchanged: no code in (0, lambda].
    assert np.abs(hard[hard != 0]).min() > 0.1
    assert (firm != 0).any() and np.isfinite(firm).all()
    with pytest.raises(ValueError, match="firm_width"):
        lca.sparse_encode(X, D, 0.1, firm_width=0.2)


def test_errors_are_value_errors_with_the_engines_message(problem):
    X, D = problem
    with pytest.raises(ValueError, match="row 0 .*L2 norm 2.0"):
        lca.sparse_encode(X, 2 * D, 0.1)
    np.testing.assert_array_equal(lca.sparse_encode(X, 2 * D, 0.1, normalize=True), lca.sparse_encode(X, D, 0.1))
    with pytest.raises(ValueError, match="dictionary have 16"):
        lca.sparse_encode(X[:, :10], D, 0.1)
    with pytest.raises(ValueError, match="lambda"):
        lca.sparse_encode(X, D, -1.0)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        lca.sparse_encode(bad, D, 0.1)
    with pytest.raises(ValueError, match="mode"):
        lca.sparse_encode(X, D, 0.1, mode="fast")
    with pytest.raises(TypeError, match="tua"):
        lca.sparse_encode(X, D, 0.1, tua=1.0)


@pytest.mark.parametrize("flags,kwargs", [
    ([], {}),
    (["--nonneg"], {"positive": True}),
    (["--tol", "1e-3", "--max-iters", "50", "--no-projection"], {"tol": 1e-3, "max_iter": 50, "projection": False}),
    (["--mode", "spiking", "--time-steps", "128"], {"mode": "spiking", "time_steps": 128}),
    (["--mode", "spiking", "--fixed-point"], {"mode": "spiking", "fixed_point": True}),
])
def test_codes_equal_the_clis_bit_for_bit(problem, lca_bin, tmp_path, flags, kwargs):
    X, D = problem
    X = np.concatenate([X] * 3)  # more than one solver chunk
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "D.npy", D)
    out = tmp_path / "A.npy"
    proc = subprocess.run([lca_bin, "encode", "-d", tmp_path / "D.npy", "-i", tmp_path / "X.npy", "-o", out,
                           "--lambda", "0.15", "--threads", "2", "--json", *flags],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    A = lca.sparse_encode(X, D, 0.15, n_jobs=1, **kwargs)
    np.testing.assert_array_equal(A, np.load(out))
    assert abs(lca.lasso_objective(X, D, A, 0.15).mean() - summary["mean_energy"]) < 1e-9 * max(1, summary["mean_energy"])


def test_fits_problems_of_the_acceptance_size():
    rng = np.random.default_rng(1)
    D = unit_rows(rng.standard_normal((512, 256)))
    X = unit_rows(rng.standard_normal((130, 256)))
    A = lca.sparse_encode(X, D, 0.1)
    assert A.shape == (130, 512) and np.isfinite(A).all()


def test_keyboard_interrupt_stops_one_long_call_promptly():
    """Ctrl-C inside a single long sparse_encode: the solve stops between chunks
    of signals and KeyboardInterrupt is raised within a fraction of the call."""
    import os
    import signal
    import threading
    import time

    rng = np.random.default_rng(2)
    D = unit_rows(rng.standard_normal((512, 256)))
    small = unit_rows(rng.standard_normal((256, 256)))
    t0 = time.perf_counter()
    lca.sparse_encode(small, D, 0.05, n_jobs=2)
    per_signal = (time.perf_counter() - t0) / len(small)
    # A call that would take about 8 s uninterrupted (at most 150,000 rows: ~1 GB with codes and states).
    n = min(int(8 / per_signal) + 1, 150_000)
    expected = n * per_signal
    X = np.broadcast_to(small, (n // len(small) + 1, *small.shape)).reshape(-1, 256)[:n]
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        lca.sparse_encode(X, D, 0.05, n_jobs=2)
    elapsed = time.perf_counter() - t0
    timer.join()
    bound = min(2.0, 0.3 + 0.5 * expected)
    assert elapsed < bound, f"KeyboardInterrupt after {elapsed:.2f} s of a ~{expected:.1f} s call"
    # The next call is unaffected: same codes as before the interrupt.
    np.testing.assert_array_equal(lca.sparse_encode(small, D, 0.05, n_jobs=2),
                                  lca.sparse_encode(small, D, 0.05, n_jobs=1))
