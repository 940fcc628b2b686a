"""DictionaryLearning, learn_images, interrupts, CLI parity."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import lca
from conftest import REPO, unit_rows


@pytest.fixture
def patches():
    """Unit-norm, mean-removed 8x8 patches of the embedded sample images."""
    rng = np.random.default_rng(0)
    # Smooth random images: patches with structure, not white noise.
    imgs = [np.cumsum(np.cumsum(rng.standard_normal((40, 40)), 0), 1) for _ in range(3)]
    P = np.concatenate([lca.extract_patches((i - i.min()) / np.ptp(i), 8, stride=2, normalize=True)
                        for i in imgs])
    return P[np.linalg.norm(P, axis=1) > 0.5]


def test_fit_learns_unit_norm_atoms_that_lower_the_objective(patches):
    est = lca.DictionaryLearning(n_components=16, n_steps=60, batch_size=64, random_state=0)
    assert est.fit(patches) is est
    assert est.components_.shape == (16, 64) and est.n_iter_ == 60 and est.status_ == "completed"
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1, atol=1e-4)
    log = est.training_log_
    assert len(log["step"]) == 60 and log["step"][-1] == 60
    assert log["energy"][-10:].mean() < log["energy"][:5].mean()
    codes = est.transform(patches)
    assert codes.shape == (len(patches), 16)
    rec = est.inverse_transform(codes)
    assert rec.shape == patches.shape
    np.testing.assert_allclose(rec, codes @ est.components_, rtol=1e-5)


def test_fit_is_deterministic_and_independent_of_threads(patches):
    a = lca.DictionaryLearning(n_components=12, n_steps=20, batch_size=50, random_state=3, n_jobs=1).fit(patches)
    b = lca.DictionaryLearning(n_components=12, n_steps=20, batch_size=50, random_state=3, n_jobs=2).fit(patches)
    np.testing.assert_array_equal(a.components_, b.components_)
    c = lca.DictionaryLearning(n_components=12, n_steps=20, batch_size=50, random_state=4).fit(patches)
    assert not np.array_equal(a.components_, c.components_)


@pytest.mark.parametrize("rule", ["hebbian", "online"])
def test_fit_equals_lca_learn_on_the_same_patches(patches, lca_bin, tmp_path, rule):
    np.save(tmp_path / "X.npy", patches.astype(np.float32))
    proc = subprocess.run([lca_bin, "learn", "--patches", tmp_path / "X.npy", "-o", tmp_path / "run",
                           "--atoms", "12", "--steps", "25", "--batch-size", "40", "--seed", "5",
                           "--rule", rule, "--lambda", "0.15", "--threads", "2", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"] == 25
    est = lca.DictionaryLearning(n_components=12, n_steps=25, batch_size=40, random_state=5, rule=rule,
                                 alpha=0.15).fit(patches)
    np.testing.assert_array_equal(est.components_, np.load(tmp_path / "run" / "dictionary.npy"))
    csv = np.genfromtxt(tmp_path / "run" / "training.csv", delimiter=",", names=True)
    np.testing.assert_array_equal(csv["energy"], est.training_log_["energy"])


def test_partial_fit_steps_on_each_batch(patches):
    est = lca.DictionaryLearning(n_components=10, n_steps=30, random_state=0)
    for start in range(0, 300, 100):
        est.partial_fit(patches[start:start + 100])
    assert est.n_iter_ == 3 and est.components_.shape == (10, 64)
    assert len(est.training_log_["step"]) == 3
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(patches[:, :10])


def test_errors_name_the_problem(patches):
    with pytest.raises(ValueError, match="atoms"):
        lca.DictionaryLearning(n_components=10_000, n_steps=2).fit(patches)
    with pytest.raises(ValueError, match="rule"):
        lca.DictionaryLearning(n_components=4, rule="sgd").fit(patches)
    with pytest.raises(ValueError, match="max_seconds"):
        lca.DictionaryLearning(n_components=4, n_steps=0).fit(patches)
    with pytest.raises(ValueError):
        lca.DictionaryLearning(n_components=4).transform(patches)


def test_time_budget_stops_fit(patches):
    est = lca.DictionaryLearning(n_components=8, n_steps=0, max_seconds=0.3, rule="online", batch_size=32)
    t0 = time.perf_counter()
    est.fit(patches)
    assert est.status_ == "time-budget" and est.n_iter_ > 0
    assert time.perf_counter() - t0 < 5


def test_a_time_budget_alone_sizes_the_fit(patches):
    est = lca.DictionaryLearning(n_components=8, max_seconds=0.5, batch_size=32)
    est.fit(patches)
    assert est.status_ in ("completed", "time-budget") and est.n_iter_ > 0


def test_learn_images_with_a_budget_alone_records_its_horizon(tmp_path):
    d, log, summary = lca.learn_images(None, tmp_path / "run", n_components=16, max_seconds=1.5, batch_size=32,
                                       heldout_patches=64, downscale=4.0)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["horizon"] == "budget" and summary["horizon_rule"] == "budget"
    assert config["learning"]["steps"] == summary["horizon"] >= summary["steps"] > 0
    assert config["learning"]["horizons"][0] == {"from_step": 0, "steps": 2000}
    assert "chosen for the 1.5 s budget" in summary["time_use"]
    _, _, fixed = lca.learn_images(None, tmp_path / "fixed", n_components=16, n_steps=5, batch_size=32,
                                   heldout_patches=64, downscale=4.0)
    assert fixed["horizon_rule"] == "given" and fixed["horizon"] == 5


def test_keyboard_interrupt_stops_a_long_fit_cleanly(patches):
    est = lca.DictionaryLearning(n_components=16, n_steps=10_000_000, batch_size=64)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        est.fit(patches)
    timer.join()
    assert time.perf_counter() - t0 < 5
    assert est.status_ == "interrupted" or est.n_iter_ > 0
    assert 0 < est.n_iter_ < 10_000_000 and est.components_.shape == (16, 64)
    assert len(est.training_log_["step"]) == est.n_iter_


def test_learn_images_writes_the_clis_outputs(tmp_path):
    d, log, summary = lca.learn_images(None, tmp_path / "run", n_components=16, n_steps=6, batch_size=32,
                                       heldout_patches=64, heldout_every=3, downscale=4.0)
    assert d.shape == (16, 64) and summary["status"] == "completed" and summary["steps"] == 6
    assert list(log["step"]) == [1, 2, 3, 4, 5, 6]
    assert np.isfinite(log["heldout_energy"][[2, 5]]).all() and np.isnan(log["heldout_energy"][0])
    np.testing.assert_array_equal(np.load(tmp_path / "run" / "dictionary.npy"), d)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["progress"]["status"] == "completed"
    d2, _, s2 = lca.learn_images(n_components=16, n_steps=6, batch_size=32, heldout_patches=64, downscale=4.0)
    np.testing.assert_array_equal(d, d2)
    assert s2["output"] is None


def test_learn_images_errors_are_os_and_value_errors(tmp_path):
    with pytest.raises((OSError, ValueError), match="nope"):
        lca.learn_images(tmp_path / "nope", tmp_path / "run", n_steps=2)
    with pytest.raises(ValueError, match="whiten"):
        lca.learn_images(None, tmp_path / "run2", n_steps=2, whiten="pca")


def test_estimators_work_without_scikit_learn(patches, tmp_path):
    np.save(tmp_path / "X.npy", patches)
    code = f"""
import sys
sys.modules['sklearn'] = None
import numpy as np, lca
from lca import _estimators
assert not _estimators.HAVE_SKLEARN
X = np.load({str(tmp_path / 'X.npy')!r})
est = lca.DictionaryLearning(n_components=6, n_steps=5, batch_size=20)
assert est.get_params()['n_components'] == 6
est.set_params(n_steps=4)
A = est.fit_transform(X)
assert A.shape == (len(X), 6) and est.n_iter_ == 4
coder = lca.SparseCoder(est.components_, alpha=0.2)
np.testing.assert_array_equal(coder.transform(X), lca.sparse_encode(X, est.components_, 0.2))
try:
    lca.DictionaryLearning().transform(X)
except ValueError:
    pass
else:
    raise SystemExit('transform before fit did not fail')
print('ok')
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_sparse_coder_transform(patches):
    rng = np.random.default_rng(0)
    D = unit_rows(rng.standard_normal((20, 64)))
    coder = lca.SparseCoder(D, alpha=0.1, n_jobs=1)
    np.testing.assert_array_equal(coder.fit(patches).transform(patches), lca.sparse_encode(patches, D, 0.1))
    assert coder.n_components_ == 20 and coder.n_features_in_ == 64
    with pytest.raises(ValueError):
        coder.transform(patches[:, :32])
