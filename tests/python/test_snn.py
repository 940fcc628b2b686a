"""lca.snn: training from arrays, evaluation, model files shared with the CLI."""

import json
import subprocess

import numpy as np
import pytest

import lca


def blobs(n, seed):
    """Two Gaussian blobs, at (1, 1, -1, -1) and (-1, -1, 1, 1). (Blobs at +-(1, 1, 1, 1)
    would be no test: latency coding turns them into the same spike pattern shifted
    in time, which a max-over-time readout barely tells apart: 0.55 after 8 epochs.)"""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    centre = np.where(y[:, None] == 1, 1.0, -1.0) * np.array([1.0, 1.0, -1.0, -1.0])
    X = rng.standard_normal((n, 4)) * 0.4 + centre
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


def test_train_learns_a_separable_problem():
    # Two Gaussian blobs: the default (Yin-Yang) recipe must separate them far above
    # chance (0.5). 30 epochs of 13 Adam steps; with 10 the cosine schedule ends before
    # the network leaves its constant start (0.56 train accuracy).
    X, y = blobs(200, 0)
    Xt, yt = blobs(200, 1)
    model, log = lca.snn.train(X, y, hidden=(16,), epochs=30, seed=3)
    assert model.evaluate(Xt, yt) > 0.9, log["train_accuracy"]


def test_defaults_are_the_clis_recipe_per_dataset(lca_bin):
    for name in ("yinyang", "digits", "streams"):
        proc = subprocess.run([lca_bin, "snn", "recipe", "--dataset", name], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert lca.snn.recipe(name) == json.loads(proc.stdout)
    assert lca.snn.recipe("digits")["time_steps"] == 20 and lca.snn.recipe()["time_steps"] == 60
    with pytest.raises(ValueError, match="recipe"):
        lca.snn.recipe("mnist")


@pytest.mark.parametrize("extra,flags", [
    ({}, []),
    ({"train_decays": True, "loss": "mean", "lr": 5e-3}, ["--train-decays", "--loss", "mean", "--lr", "5e-3"]),
])
def test_training_equals_the_clis_for_the_same_recipe_and_settings(tmp_path, lca_bin, extra, flags):
    (Xtr, ytr), validation, (Xte, yte) = lca.snn.load_dataset("digits")
    assert validation is None and Xtr.shape[1] == 64 and len(Xtr) + len(Xte) == 1797
    model, log = lca.snn.train(Xtr, ytr, test=(Xte, yte), dataset="digits", epochs=1, hidden=(12,), seed=2,
                               scale=False, **extra)
    proc = subprocess.run([lca_bin, "snn", "train", "--dataset", "digits", "--epochs", "1", "--hidden", "12",
                           "--seed", "2", "--threads", "2", "--quiet", "-o", tmp_path / "cli", *flags],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    model.save(tmp_path / "py.json")
    ours = json.loads((tmp_path / "py.json").read_text())
    theirs = json.loads((tmp_path / "cli" / "model.json").read_text())
    assert ours.pop("dataset") == "python" and theirs.pop("dataset") == "digits"
    assert ours == theirs
    assert lca.snn.load(tmp_path / "cli" / "model.json").evaluate(Xte, yte) == model.evaluate(Xte, yte)


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
    with pytest.raises(ValueError, match="recipe"):
        lca.snn.train(X, y, epochs=1, dataset="cifar")
    with pytest.raises(TypeError, match="not both"):
        lca.snn.train(X, y, epochs=1, fixed_decays=True, train_decays=True)
    with pytest.raises((OSError, ValueError)):
        lca.snn.load("/nonexistent/model.json")
