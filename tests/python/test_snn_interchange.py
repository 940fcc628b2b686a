"""lca.snn interchange: NIR graphs (to_nir / from_nir, against the nir package), tonic
arrays (from_tonic) and SHD/SSC files (load_shd, written here by h5py)."""

import json
import subprocess

import numpy as np
import pytest

import lca

nir = pytest.importorskip("nir")
h5py = pytest.importorskip("h5py")


def same_model(a, b, tmp_path):
    a.save(tmp_path / "a.json")
    b.save(tmp_path / "b.json")
    return json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())


@pytest.fixture(scope="module")
def trained():
    (X, y), _, (Xt, yt) = lca.snn.load_dataset("yinyang")
    model, _ = lca.snn.train(X[:400], y[:400], hidden=(10,), recurrent=True, epochs=2, scale=False, seed=1)
    return model, Xt, yt


def test_run_gives_the_inputs_classes_and_hidden_counts_evaluate_sees(trained):
    model, Xt, yt = trained
    inputs, predicted, counts = model.run(Xt[:100], yt[:100])
    assert inputs.shape == (100, 60, 4) and set(np.unique(inputs)) <= {0, 1}
    assert np.mean(predicted == yt[:100]) == model.evaluate(Xt[:100], yt[:100])
    assert len(counts) == 1 and counts[0].shape == (100, 10) and counts[0].sum() > 0
    # latency code: each of the 4 channels fires once
    assert np.all(inputs.sum(1) == 1)


def test_to_nir_gives_the_nir_packages_graph_and_from_nir_gives_the_model_back(trained, tmp_path):
    model, Xt, yt = trained
    g = lca.snn.to_nir(model)
    assert isinstance(g, nir.NIRGraph)
    kinds = {k: type(v).__name__ for k, v in g.nodes.items()}
    assert kinds == {"input": "Input", "fc0": "Affine", "lif0": "CubaLIF", "rec0": "Linear",
                     "fc1": "Affine", "li1": "CubaLI", "output": "Output"}
    assert ("lif0", "rec0") in g.edges and ("rec0", "lif0") in g.edges
    dt = g.metadata["dt"]
    lif = g.nodes["lif0"]
    # Euler at dt reproduces the decays: w_in = tau_syn / dt, r = tau_mem / dt
    np.testing.assert_allclose(lif.w_in, lif.tau_syn / dt)
    np.testing.assert_allclose(lif.r, lif.tau_mem / dt)
    assert g.nodes["fc0"].weight.shape == (10, 4)
    back = lca.snn.from_nir(g)
    assert same_model(back, model, tmp_path)
    # and through a file written by nir.write (gzip-compressed, as other tools write)
    nir.write(tmp_path / "g.nir", g)
    again = lca.snn.from_nir(tmp_path / "g.nir")
    assert same_model(again, model, tmp_path)
    assert again.evaluate(Xt, yt) == model.evaluate(Xt, yt)


def test_a_graph_without_lca_metadata_runs_with_the_recipes_encoder(trained, tmp_path, lca_bin):
    model, Xt, yt = trained
    g = lca.snn.to_nir(model)
    g.metadata = {}  # as another tool would write it: weights and neurons only
    foreign = lca.snn.from_nir(g, dataset="yinyang")
    assert foreign.evaluate(Xt, yt) == model.evaluate(Xt, yt)
    nir.write(tmp_path / "foreign.nir", g)
    proc = subprocess.run([lca_bin, "snn", "eval", "--model", str(tmp_path / "foreign.nir"),
                           "--dataset", "yinyang", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accuracy"] == model.evaluate(Xt, yt)


def test_nodes_lca_cannot_run_and_bad_numbers_are_refused(trained, tmp_path):
    model, _, _ = trained
    g = lca.snn.to_nir(model)
    g.nodes["rec0"] = nir.Threshold(threshold=np.ones(10))
    with pytest.raises(ValueError, match=r"'rec0' \(Threshold\)"):
        lca.snn.from_nir(g)
    g = lca.snn.to_nir(model)
    g.nodes["fc1"].weight[0, 0] = np.nan
    with pytest.raises(ValueError, match="'fc1'.*NaN"):
        lca.snn.from_nir(g)
    with pytest.raises(ValueError, match="not an HDF5 file"):
        (tmp_path / "x.nir").write_bytes(b"nope")
        lca.snn.from_nir(tmp_path / "x.nir")


TONIC = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])


def test_tonic_arrays_become_the_hand_built_event_dataset():
    a = np.array([(1, 0, 10, 1), (0, 2, 5, 0)], dtype=TONIC)
    b = np.array([], dtype=TONIC)
    c = np.array([(2, 1, 40, 0)], dtype=TONIC)
    ds = lca.snn.from_tonic([(a, 0), (b, 2), (c, 1)], sensor_size=(3, 3, 2))
    # channel = (x * H + y) * P + p with (W, H, P) = (3, 3, 2)
    want = lca.snn.EventDataset(np.array([10, 5, 40], np.float32), np.array([7, 4, 14]),
                                np.array([0, 2, 2, 3]), np.array([0, 2, 1]), n_channels=18)
    assert ds == want and len(ds) == 3 and ds.duration == 40
    assert ds.n_classes == 3
    t, ch = ds.events(0)
    assert list(t) == [10, 5] and list(ch) == [7, 4]
    # inferred sensor size: (3, 3, 2) again; 1-D sensors without y
    assert lca.snn.from_tonic([(a, 0), (b, 2), (c, 1)]) == want
    audio = np.array([(3, 100, 1), (0, 50, 0)], dtype=[("x", "<i2"), ("t", "<i8"), ("p", "<i1")])
    one_d = lca.snn.from_tonic([(audio, 1)], sensor_size=(4, 2))
    assert list(one_d.channels) == [7, 0] and one_d.n_channels == 8
    with pytest.raises(ValueError, match="outside the sensor size"):
        lca.snn.from_tonic([(a, 0)], sensor_size=(1, 3, 2))
    with pytest.raises(ValueError, match="fields t, x"):
        lca.snn.from_tonic([(np.zeros(3), 0)])


def write_shd(path, times, units, labels, tdtype=np.float16):
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(tdtype))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units)):
            t[i] = np.asarray(ti, tdtype)
            u[i] = np.asarray(ui, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint8))
        f.create_dataset("extra/speaker", data=np.zeros(len(labels), np.uint8))


def synthetic_shd(path, n, seed):
    """Class c fires on units 20c..20c+19 at times spread by class; ragged, with empty samples."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    times, units = [], []
    for i, c in enumerate(labels):
        k = 0 if i % 13 == 4 else int(rng.integers(10, 80))
        units.append(np.where(rng.random(k) < 0.85, 20 * c + rng.integers(0, 20, k), rng.integers(0, 700, k)))
        times.append(rng.random(k) * 0.4 + 0.3 * c)
    write_shd(path, times, units, labels, np.float32)
    return times, units, labels


def test_an_shd_file_reads_as_h5py_sees_it_trains_and_evaluates(tmp_path, lca_bin):
    times, units, labels = synthetic_shd(tmp_path / "train.h5", 150, 0)
    synthetic_shd(tmp_path / "test.h5", 60, 1)
    ds = lca.snn.load_shd(tmp_path / "train.h5")
    assert len(ds) == 150 and ds.n_channels == 700 and ds.n_classes == 3
    np.testing.assert_array_equal(ds.labels, labels)
    for i in (0, 4, 17, 149):
        t, ch = ds.events(i)
        np.testing.assert_array_equal(t, np.asarray(times[i], np.float32))
        np.testing.assert_array_equal(ch, units[i])
    test = lca.snn.load_shd(tmp_path / "test.h5")
    model, log = lca.snn.train(ds, test=test, dataset="shd", hidden=[16], time_steps=30, epochs=6,
                               batch_size=16, lr=5e-3)
    acc = model.evaluate(test)
    assert acc == log["test_accuracy"][-1] and acc > 0.6, log["test_accuracy"]
    # the CLI reads the same file
    proc = subprocess.run([lca_bin, "snn", "train", "--dataset", f"shd:{tmp_path / 'train.h5'}", "--hidden", "16",
                           "--time-steps", "30", "--epochs", "2", "--quiet", "-o", str(tmp_path / "net")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # and an event dataset saved as .npz trains the CLI too
    ds.save(tmp_path / "train.npz")
    assert lca.snn.EventDataset.load(tmp_path / "train.npz") == ds


def test_bad_shd_files_fail_with_one_line_naming_the_file(tmp_path, lca_bin):
    write_shd(tmp_path / "bad.h5", [[0.1, 0.2], [0.3]], [[1], [2]], [0, 1])
    with pytest.raises(ValueError, match=r"bad\.h5.*sample 0 has 2 times but 1 units"):
        lca.snn.load_shd(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "nolabels.h5", "w") as f:
        f.create_dataset("spikes/times", (1,), dtype=h5py.vlen_dtype(np.float32))
        f.create_dataset("spikes/units", (1,), dtype=h5py.vlen_dtype(np.uint16))
    with pytest.raises(ValueError, match="missing dataset 'labels'"):
        lca.snn.load_shd(tmp_path / "nolabels.h5")
    proc = subprocess.run([lca_bin, "snn", "train", "--dataset", f"shd:{tmp_path / 'bad.h5'}", "-o",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "bad.h5" in proc.stderr and not (tmp_path / "out").exists()


def test_the_shd_recipe_is_the_clis():
    r = lca.snn.recipe("shd")
    assert r["recurrent"] and r["hidden"] == [256] and r["train"]["method"] == "event-prop"


def run_nir_spiking_lca(path, X):
    """An interpreter of the spiking LCA's NIR graph written from the NIR node
    definitions (Euler steps of IF neurons at the graph's dt, subtractive reset as its
    metadata says), independent of lca's solver: the rate codes of the signals X."""
    g = nir.read(path)
    md = g.metadata
    drive, neurons, inhibition = g.nodes["drive"], g.nodes["neurons"], g.nodes["inhibition"]
    assert isinstance(neurons, nir.IF) and neurons.metadata["reset"] == "subtract"
    assert ("neurons", "inhibition") in g.edges and ("inhibition", "neurons") in g.edges
    dt, thr = float(md["dt"]), neurons.v_threshold
    m = len(thr)
    v = np.zeros((len(X), m))
    s = np.zeros((len(X), m))
    counts = np.zeros((len(X), m))
    for t in range(int(md["steps"])):
        current = X @ drive.weight.T + drive.bias + s @ inhibition.weight.T
        v += dt * neurons.r * current
        s = (v >= thr).astype(float)
        v -= thr * s
        if t >= int(md["settle"]):
            counts += s
    rates = thr * counts / ((int(md["steps"]) - int(md["settle"])) * float(md["lca_dt"]))
    k = int(md["n_atoms"])
    return rates if int(md["nonneg"]) else rates[:, :k] - rates[:, k:]


@pytest.mark.parametrize("flags", [[], ["--nonneg"]])
def test_the_spiking_lca_as_a_nir_graph_reproduces_our_codes(problem, tmp_path, lca_bin, flags):
    X, D = problem
    X = X[:40].astype(np.float64)
    X /= np.abs(X @ D.T).max(axis=1, keepdims=True)  # the graph's units: max|Phi^T x| = 1
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "D.npy", D)
    proc = subprocess.run([lca_bin, "encode", "--mode", "spiking", "-d", str(tmp_path / "D.npy"), "-i",
                           str(tmp_path / "X.npy"), "-o", str(tmp_path / "A.npy"), "--lambda", "0.1",
                           "--export-nir", str(tmp_path / "lca.nir"), "--quiet", *flags],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ours = np.load(tmp_path / "A.npy")
    theirs = run_nir_spiking_lca(tmp_path / "lca.nir", X.astype(np.float32).astype(np.float64))
    rel = np.linalg.norm(theirs - ours) / np.linalg.norm(ours)
    assert np.abs(ours).sum() > 0 and rel <= 1e-2, rel
    # the Python call writes the same graph as the CLI
    g = lca.snn.spiking_lca_to_nir(D, 0.1, positive=bool(flags))
    nir.write(tmp_path / "py.nir", g)
    again = run_nir_spiking_lca(tmp_path / "py.nir", X.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(again, theirs)
    codes = lca.sparse_encode(X.astype(np.float32), D, 0.1, mode="spiking", positive=bool(flags))
    np.testing.assert_allclose(codes, ours, rtol=0, atol=0)


def test_the_fixed_point_graph_carries_the_integer_weights(problem, tmp_path, lca_bin):
    X, D = problem
    np.save(tmp_path / "X.npy", X[:5])
    np.save(tmp_path / "D.npy", D)
    proc = subprocess.run([lca_bin, "encode", "--mode", "spiking", "--fixed-point", "-d", str(tmp_path / "D.npy"),
                           "-i", str(tmp_path / "X.npy"), "-o", str(tmp_path / "A.npy"),
                           "--export-nir", str(tmp_path / "lca.nir"), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    g = nir.read(tmp_path / "lca.nir")
    md = g.nodes["inhibition"].metadata
    ints, e, unit = md["weight_int"], int(md["weight_exponent"]), int(md["threshold_int"])
    assert ints.dtype.kind == "i" and unit == 1 << 16
    assert np.all(ints % (1 << (6 + e)) == 0) and np.abs(ints // (1 << (6 + e))).max() <= 127
    # the integers are the float weights in units of threshold / 2^16, rounded to the mantissa
    w = g.nodes["inhibition"].weight / g.nodes["neurons"].v_threshold[:, None] * unit
    assert np.abs(ints - w).max() <= (1 << (6 + e))
