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


def test_error_kinds_are_exception_classes(problem, tmp_path):
    X, D = problem
    with pytest.raises(lca.InvalidSettingError) as e:
        lca.sparse_encode(X, D, -1.0)
    assert isinstance(e.value, ValueError) and e.value.setting == "lambda"
    with pytest.raises(lca.InvalidSettingError) as e:
        lca.sparse_encode(X, D, 0.1, integrator="midpoint")
    assert e.value.setting == "integrator" and "'euler' or 'exponential'" in str(e.value)
    with pytest.raises(lca.InvalidSettingError) as e:
        lca.sparse_encode(X, 2 * D, 0.1)
    assert e.value.setting == "normalize"
    with pytest.raises(lca.InvalidInputError, match="dictionary have 16"):
        lca.sparse_encode(X[:, :10], D, 0.1)
    assert issubclass(lca.InvalidInputError, ValueError)
    bad = X.copy()
    bad[3, 2] = np.inf
    with pytest.raises(lca.InvalidInputError, match="non-finite"):
        lca.sparse_encode(bad, D, 0.1)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        lca.sparse_encode_file(tmp_path / "missing.npy", D, tmp_path / "A.npy", 0.1)
    assert not (tmp_path / "A.npy").exists()


def _save_rows(path, X):
    np.save(path, X)
    return path


@pytest.mark.parametrize("block_rows", [None, 64, 192])
def test_encode_file_writes_the_codes_of_sparse_encode(problem, tmp_path, block_rows):
    X, D = problem
    X = np.concatenate([X, X[:77] * 0.5])  # 377 rows: several blocks, a short last one
    src = _save_rows(tmp_path / "X.npy", X)
    expected, info = lca.sparse_encode(X, D, 0.1, return_info=True)
    summary = lca.sparse_encode_file(src, D, tmp_path / "A.npy", 0.1, block_rows=block_rows,
                                     save_states=tmp_path / "U.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "A.npy"), expected)
    np.testing.assert_array_equal(np.load(tmp_path / "U.npy"), info["states"])
    assert summary["n_signals"] == 377 and summary["n_atoms"] == 24
    energy = lca.lasso_objective(X, D, expected, 0.1).mean()
    assert abs(summary["mean_energy"] - energy) < 1e-9 * max(1.0, energy)
    assert summary["mean_active"] == pytest.approx((expected != 0).sum(axis=1).mean())
    # A warm start from a file is the warm start of an array.
    np.save(tmp_path / "init.npy", 0.5 * info["states"])
    lca.sparse_encode_file(src, D, tmp_path / "W.npy", 0.05, init=tmp_path / "init.npy", max_iter=20,
                           projection=False, block_rows=block_rows)
    np.testing.assert_array_equal(
        np.load(tmp_path / "W.npy"),
        lca.sparse_encode(X, D, 0.05, init=0.5 * info["states"], max_iter=20, projection=False))


def test_encode_file_sparse_output_spiking_and_fixed_point(problem, tmp_path):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, D = problem
    src = _save_rows(tmp_path / "X.npy", X.astype(np.float64))
    np.save(tmp_path / "D.npy", D)
    lca.sparse_encode_file(src, tmp_path / "D.npy", tmp_path / "A.npz", 0.1, positive=True, block_rows=128)
    np.testing.assert_array_equal(scipy_sparse.load_npz(tmp_path / "A.npz").toarray(),
                                  lca.sparse_encode(X, D, 0.1, positive=True))
    for fixed in (False, True):
        summary = lca.sparse_encode_file(src, D, tmp_path / "S.npy", 0.1, mode="spiking", fixed_point=fixed,
                                         time_steps=100, spikes=tmp_path / "spikes.npz", block_rows=64)
        codes, info = lca.sparse_encode(X, D, 0.1, mode="spiking", fixed_point=fixed, time_steps=100,
                                        return_info=True)
        np.testing.assert_array_equal(np.load(tmp_path / "S.npy"), codes)
        with np.load(tmp_path / "spikes.npz") as spikes:
            assert len(spikes["signal"]) == info["spike_counts"].sum()
            assert np.all(np.diff(spikes["signal"]) >= 0)  # in signal order across blocks
        assert summary["spikes_per_signal"] == pytest.approx(info["spike_counts"].mean())
    with pytest.raises(lca.InvalidSettingError) as e:
        lca.sparse_encode_file(src, D, tmp_path / "B.npy", 0.1, block_rows=100)
    assert e.value.setting == "block_rows"
    with pytest.raises(lca.InvalidSettingError) as e:
        lca.sparse_encode_file(src, D, tmp_path / "B.txt", 0.1)
    assert e.value.setting == "output"
    with pytest.raises(lca.InvalidSettingError) as e:
        lca.sparse_encode_file(src, D, tmp_path / "B.npy", 0.1, mode="spiking", save_states=tmp_path / "U.npy")
    assert e.value.setting == "save_states"
    np.save(tmp_path / "short.npy", np.zeros((5, 24), np.float32))
    with pytest.raises(lca.InvalidInputError, match="warm-start states have shape"):
        lca.sparse_encode_file(src, D, tmp_path / "B.npy", 0.1, init=tmp_path / "short.npy")
    assert not (tmp_path / "B.npy").exists()


def test_encode_file_equals_the_cli_byte_for_byte(problem, lca_bin, tmp_path):
    X, D = problem
    src = _save_rows(tmp_path / "X.npy", np.concatenate([X] * 2))
    np.save(tmp_path / "D.npy", D)
    proc = subprocess.run([lca_bin, "encode", "-d", tmp_path / "D.npy", "-i", src, "-o", tmp_path / "cli.npz",
                           "--lambda", "0.2", "--transfer", "firm", "--firm-width", "0.3", "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lca.sparse_encode_file(src, tmp_path / "D.npy", tmp_path / "py.npz", 0.2, threshold="firm", firm_width=0.3)
    assert (tmp_path / "cli.npz").read_bytes() == (tmp_path / "py.npz").read_bytes()


def test_names_are_the_clis(problem, lca_bin, tmp_path):
    """Every enum setting accepts the spellings `lca` accepts (one table in the library)."""
    rng = np.random.default_rng(3)
    filters = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    filters /= np.linalg.norm(filters.reshape(3, -1), axis=1)[:, None, None, None]
    images = rng.standard_normal((1, 1, 10, 12)).astype(np.float32)
    np.save(tmp_path / "F.npy", filters)
    np.save(tmp_path / "I.npy", images)
    for name, alias in (("zero", "fill"), ("circular", "wrap")):
        codes = lca.conv_encode(images, filters, 0.1, boundary=alias)
        np.testing.assert_array_equal(codes, lca.conv_encode(images, filters, 0.1, boundary=name))
        proc = subprocess.run([lca_bin, "encode", "-d", tmp_path / "F.npy", "-i", tmp_path / "I.npy",
                               "-o", tmp_path / "A.npy", "--lambda", "0.1", "--boundary", alias, "--quiet"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "A.npy"), codes)
    X, D = problem
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "D.npy", D)
    for integrator in ("euler", "exponential"):
        proc = subprocess.run([lca_bin, "encode", "-d", tmp_path / "D.npy", "-i", tmp_path / "X.npy",
                               "-o", tmp_path / "A.npy", "--integrator", integrator, "--no-projection",
                               "--max-iters", "30", "--quiet"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_array_equal(
            np.load(tmp_path / "A.npy"),
            lca.sparse_encode(X, D, lca.DEFAULTS["alpha"], integrator=integrator, projection=False, max_iter=30))


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
