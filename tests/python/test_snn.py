"""lca.snn: training from arrays, evaluation, model files shared with the CLI."""

import json
import subprocess

import numpy as np
import pytest

import lca


def blobs(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.standard_normal((n, 4)) * 0.4 + np.where(y[:, None] == 1, 1.0, -1.0)
    return X.astype(np.float32), y


def test_train_is_deterministic_for_any_thread_count():
    X, y = blobs(200, 0)
    Xt, yt = blobs(100, 1)
    model, log = lca.snn.train(X, y, test=(Xt, yt), hidden=(16,), epochs=4, batch_size=16, seed=3)
    assert model.n_classes == 2 and model.n_features == 4
    assert list(log["epoch"]) == [1, 2, 3, 4] and log["test_accuracy"][-1] == model.evaluate(Xt, yt)
    again, log2 = lca.snn.train(X, y, test=(Xt, yt), hidden=(16,), epochs=4, batch_size=16, seed=3, n_jobs=1)
    assert again.evaluate(Xt, yt) == model.evaluate(Xt, yt)
    assert (log2["train_loss"] == log["train_loss"]).all()


@pytest.mark.xfail(reason="open: on this toy problem training from arrays stays at chance (train accuracy "
                          "0.55 after 20 epochs); not yet known whether the wiring or the settings are at fault",
                   strict=False)
def test_train_learns_a_separable_problem():
    X, y = blobs(200, 0)
    Xt, yt = blobs(100, 1)
    model, _ = lca.snn.train(X, y, hidden=(16,), epochs=8, batch_size=16, seed=3)
    assert model.evaluate(Xt, yt) > 0.9


def test_saved_model_is_the_clis(tmp_path, lca_bin):
    X, y = blobs(120, 0)
    Xt, yt = blobs(80, 2)
    model, _ = lca.snn.train(X, y, hidden=(8,), epochs=3, seed=1)
    model.save(tmp_path / "model.json")
    np.savetxt(tmp_path / "test.csv", np.column_stack([Xt, yt]), delimiter=",", fmt="%.9g")
    proc = subprocess.run([lca_bin, "snn", "eval", "--model", tmp_path / "model.json", "--dataset",
                           tmp_path / "test.csv", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accuracy"] == model.evaluate(Xt, yt)
    assert lca.snn.load(tmp_path / "model.json").evaluate(Xt, yt) == model.evaluate(Xt, yt)


def test_errors():
    X, y = blobs(50, 0)
    with pytest.raises(ValueError, match="labels"):
        lca.snn.train(X, y[:10], epochs=1)
    with pytest.raises(ValueError, match="loss"):
        lca.snn.train(X, y, epochs=1, loss="hinge")
    with pytest.raises(TypeError, match="epoch"):
        lca.snn.train(X, y, epoch=1)
    with pytest.raises((OSError, ValueError)):
        lca.snn.load("/nonexistent/model.json")
