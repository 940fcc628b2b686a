"""Spiking neural networks trained with surrogate gradients (``lca snn``) on arrays.

:func:`train` builds and trains the network ``lca snn train`` builds from the same
settings (CUBA-LIF layers, latency or rate input encoding, Adam with a cosine
schedule, backpropagation through time with a surrogate spike derivative) and
returns a :class:`Model`; :meth:`Model.evaluate` is ``lca snn eval``, and
``Model.save`` / :func:`load` read and write the CLI's ``model.json``. Defaults
come from the per-dataset recipes of ``lca::snn::defaults`` (:func:`recipe`), the
same ones the CLI reads.

Interchange: :func:`to_nir` / :func:`from_nir` move trained networks to and from
NIR graphs (snnTorch, Norse, Rockpool, Sinabs, Lava-dl, neuromorphic hardware;
the ``nir`` package must be installed); :func:`from_tonic` and :func:`load_shd`
turn tonic event arrays and Spiking Heidelberg Digits / Speech Commands files
into the :class:`EventDataset` that :func:`train` and :meth:`Model.evaluate`
take.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Iterable, Optional, Sequence

import numpy as np

from . import _lca

__all__ = ["train", "load", "load_dataset", "recipe", "Model", "EventDataset", "to_nir", "from_nir",
           "from_tonic", "load_shd", "spiking_lca_to_nir"]

Model = _lca.SnnModel
EventDataset = _lca.EventDataset


def _xy(X, y, name):
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float32)
    if X.ndim != 2:
        raise ValueError(f"{name}: X must be 2-D (n_samples, n_features), got shape {X.shape}")
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name}: y must be a 1-D array of integer class labels")
    return X, y.astype(np.int64)


def recipe(dataset: str = "yinyang") -> dict:
    """Every hyperparameter :func:`train` starts from for a data set.

    ``lca snn recipe --dataset NAME``, from the one place the CLI reads them
    (``lca::snn::defaults``).

    Parameters
    ----------
    dataset : {"yinyang", "digits", "streams"}, default="yinyang"
        The recipe's data set (``"yinyang"`` is also the recipe ``lca snn
        train`` uses for CSV files).

    Returns
    -------
    dict
        Hyperparameters by their ``lca snn train`` flag names.
    """
    return json.loads(_lca.snn_recipe(str(dataset)))


def load_dataset(name: str):
    """The splits ``lca snn train --dataset NAME`` uses.

    Train on them with ``scale=False``, as the CLI.

    Parameters
    ----------
    name : {"yinyang", "digits"}
        ``"yinyang"``: 5000 / 1000 / 1000 samples of 4 features;
        ``"digits"``: the 1797 8x8 digits, 75 / 25 % stratified, no
        validation set.

    Returns
    -------
    train, validation, test : tuple of (ndarray, ndarray) or None
        Each ``(X, y)``: ``X`` float32 in [0, 1], ``y`` int64 labels.
    """
    return _lca.snn_dataset(str(name))


def train(X, y=None, *, validation: Optional[tuple] = None, test: Optional[tuple] = None,
          dataset: Optional[str] = None, hidden: Optional[Sequence[int]] = None, epochs: Optional[int] = None,
          batch_size: Optional[int] = None, lr: Optional[float] = None, seed: int = 0,
          n_jobs: Optional[int] = None, **settings):
    """Trains a spiking classifier on the rows of ``X``, or on event streams.

    ``X`` holds rows with integer labels ``y`` (0..n_classes-1), or is an
    :class:`EventDataset` (no ``y``; ``test`` an :class:`EventDataset`;
    ``dataset`` defaults to the ``"streams"`` recipe, ``"shd"`` gives the SHD
    one), as ``lca snn train --dataset FILE.npz`` / ``shd:PATH.h5``.

    Hyperparameters come from the recipe of ``dataset`` -- the one ``lca snn train
    --dataset NAME`` uses (``"yinyang"``, the default, is also the recipe of a CSV
    file; ``"digits"``; ``"streams"``; see :func:`recipe`) -- and every setting
    passed overrides its entry as the CLI flag of that name does, so the same
    data, recipe, settings and ``seed`` give the CLI's model bit for bit.
    Results do not depend on ``n_jobs``. Ctrl-C stops training and raises
    KeyboardInterrupt.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or EventDataset
        Training inputs.
    y : array-like of shape (n_samples,), optional
        Integer class labels 0..n_classes-1 (none with an EventDataset).
    validation, test : tuple of (X, y), optional
        Pairs scored after every epoch (with a validation set the best
        epoch's parameters are kept unless ``keep_last=True``).
    dataset : {"yinyang", "digits", "streams"}, default="yinyang"
        The recipe the hyperparameters start from.
    hidden : sequence of int, optional
        Hidden layer sizes.
    epochs, batch_size : int, optional
        Training length and samples per Adam step.
    lr : float, optional
        Initial learning rate (cosine-annealed).
    seed : int, default=0
        Seed of every random choice.
    n_jobs : int, optional
        Threads (None or -1: all cores).
    **settings
        Other settings by their ``lca snn train`` flag names with
        underscores: ``recurrent``, ``loss`` (``"max"``, ``"mean"``,
        ``"count"``, ``"ttfs"``, ``"exp"``), ``method`` (``"surrogate"``,
        ``"eventprop"``), ``encoder`` (``"latency"``, ``"rate"``), ``time_steps``,
        ``window``, ``max_rate``, ``epochs``, ``batch_size``, ``lr``, ``lr_final``,
        ``weight_decay``, ``input_dropout``, ``current_decay``, ``voltage_decay``,
        ``firing_threshold``, ``reset``, ``surrogate``, ``surrogate_width``, ``alpha``,
        ``weight_scale``, ``output_scale``, ``train_decays`` / ``train_threshold``
        (``False``: the CLI's ``--fixed-decays`` / ``--fixed-threshold``; also accepted
        as ``fixed_decays=True`` / ``fixed_threshold=True``), ``reset_gradient``,
        ``ttfs_tau0``, ``ttfs_tau1``, ``ttfs_gamma``, ``exp_tau``, ``keep_last``,
        ``n_classes``; ``scale=False`` skips the per-feature [0, 1] scaling fitted on
        ``X`` (for data already in [0, 1], like the CLI's named datasets).

    Returns
    -------
    model : Model
        The trained network (``model.evaluate(X, y)`` is ``lca snn eval``).
    log : dict of ndarray
        The per-epoch log (``training.csv``'s columns).
    """
    from . import _n_jobs

    if isinstance(X, EventDataset):
        return _train_events(X, y, test=test, dataset=dataset, hidden=hidden, epochs=epochs,
                             batch_size=batch_size, lr=lr, seed=seed, n_jobs=n_jobs, **settings)
    for fixed, trained in (("fixed_decays", "train_decays"), ("fixed_threshold", "train_threshold")):
        if fixed in settings:
            if trained in settings:
                raise TypeError(f"pass {trained} or {fixed}, not both")
            settings[trained] = not settings.pop(fixed)
    if y is None:
        raise TypeError("train(X, y): y is missing (only an EventDataset carries its labels)")
    dataset = "yinyang" if dataset is None else dataset
    s = dict(settings, dataset=str(dataset), hidden=None if hidden is None else [int(h) for h in hidden],
             epochs=epochs, batch_size=batch_size, lr=lr, seed=int(seed))
    s = {k: v for k, v in s.items() if v is not None}
    val = _xy(*validation, "validation") if validation is not None else None
    tst = _xy(*test, "test") if test is not None else None
    model, log = _lca.snn_train(_xy(X, y, "train"), val, tst, s, _n_jobs(n_jobs))
    return model, dict(log)


def load(path) -> "Model":
    """Reads a ``model.json`` written by ``lca snn train`` or ``Model.save``.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    Model
        The network, ready for ``evaluate``.
    """
    return _lca.SnnModel.load(os.fspath(path))


def _train_events(data, y, *, test, dataset, hidden, epochs, batch_size, lr, seed, n_jobs, **settings):
    from . import _n_jobs

    if y is not None:
        raise TypeError("an EventDataset carries its labels: pass no y")
    if test is not None and not isinstance(test, EventDataset):
        raise TypeError("test must be an EventDataset when training on one")
    for fixed, trained in (("fixed_decays", "train_decays"), ("fixed_threshold", "train_threshold")):
        if fixed in settings:
            settings[trained] = not settings.pop(fixed)
    s = dict(settings, dataset="streams" if dataset is None else str(dataset),
             hidden=None if hidden is None else [int(h) for h in hidden],
             epochs=epochs, batch_size=batch_size, lr=lr, seed=int(seed))
    s = {k: v for k, v in s.items() if v is not None}
    model, log = _lca.snn_train_events(data, test, s, _n_jobs(n_jobs))
    return model, dict(log)


def to_nir(model: "Model"):
    """The NIR graph (``nir.NIRGraph``) of a trained model, as ``lca snn export --format
    nir`` writes it: ``Affine`` weights into ``CubaLIF`` neurons (``Linear`` recurrent
    weights), a ``CubaLI`` readout, forward Euler at ``dt = 1e-4`` with ``tau = dt / (1 -
    decay)``, ``r = tau_mem / dt``, ``w_in = tau_syn / dt`` (``lca::snn::nir``); the
    model's other settings ride in ``graph.metadata``. Needs the ``nir`` package."""
    import nir

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.nir")
        _lca.snn_export_nir(model, path)
        return nir.read(path)


def from_nir(graph, dataset: str = "yinyang", events: Optional["EventDataset"] = None) -> "Model":
    """The model a NIR graph computes: ``graph`` a ``nir.NIRGraph`` or the path of a NIR
    file (``lca snn eval --model X.nir``). A graph exported by lca gives back the
    identical model; one made elsewhere (snnTorch's ``export_to_nir``: ``Linear``/
    ``Affine``, ``Leaky``/``LIF``, ``Synaptic``/``CubaLIF``, ``RSynaptic`` subgraphs, ``LI``
    readouts) takes the encoder, time steps and loss of ``dataset``'s recipe, and
    bins the streams like ``events`` if given. Nodes lca cannot run are refused naming the
    node and its type."""
    if isinstance(graph, (str, os.PathLike)):
        return _lca.snn_load_nir(os.fspath(graph), dataset, events)
    import nir

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "graph.nir")
        nir.write(path, graph)
        return _lca.snn_load_nir(path, dataset, events)


def load_shd(path, n_classes: Optional[int] = None) -> "EventDataset":
    """Reads a Spiking Heidelberg Digits / Spiking Speech Commands HDF5 file
    (``spikes/times``, ``spikes/units``, ``labels``; ``lca snn train --dataset
    shd:PATH.h5``), streamed sample by sample: 700 channels (more if a unit says so),
    times in seconds, each sample as long as the longest time in the file."""
    return _lca.snn_load_shd(os.fspath(path), n_classes)


def from_tonic(dataset: Iterable, sensor_size: Optional[Sequence[int]] = None,
               n_classes: Optional[int] = None, duration: Optional[float] = None) -> "EventDataset":
    """An :class:`EventDataset` from tonic-style samples: any iterable of ``(events,
    label)`` with ``events`` a numpy structured array with fields ``t``, ``x``,
    optionally ``y``, and ``p`` (tonic's dtype; a tonic dataset object works as is).

    Each event's channel is its flattened ``(x, y, p)`` over ``sensor_size = (W, H, P)``
    (``(W, P)`` or ``(W, 1, P)`` without ``y``), C order: ``channel = (x * H + y) * P + p``
    -- tonic's own ``sensor_size`` convention. Without ``sensor_size`` it is inferred as
    the largest coordinate + 1 along each axis (a dataset object's ``sensor_size`` is
    used if it has one). Times keep tonic's unit (microseconds); every sample lasts
    ``duration`` (default: the largest time)."""
    if sensor_size is None:
        sensor_size = getattr(dataset, "sensor_size", None)
    times, xs, ys, ps, offsets, labels = [], [], [], [], [0], []
    has_y = None
    for events, label in dataset:
        ev = np.asarray(events)
        names = ev.dtype.names or ()
        for f in ("t", "x", "p"):
            if f not in names:
                raise ValueError(f"events need fields t, x, [y], p (tonic's dtype); found {names}")
        if has_y is None:
            has_y = "y" in names
        elif has_y != ("y" in names):
            raise ValueError("some samples have a y field and others not")
        times.append(np.asarray(ev["t"], dtype=np.float64))
        xs.append(np.asarray(ev["x"], dtype=np.int64))
        ys.append(np.asarray(ev["y"], dtype=np.int64) if has_y else np.zeros(len(ev), np.int64))
        ps.append(np.asarray(ev["p"], dtype=np.int64))
        offsets.append(offsets[-1] + len(ev))
        labels.append(int(label))
    if not labels:
        raise ValueError("the dataset has no samples")
    t, x, y, p = (np.concatenate(a) if a else np.zeros(0) for a in (times, xs, ys, ps))
    if p.size and p.min() < 0 and set(np.unique(p)) <= {-1, 1}:
        p = (p > 0).astype(np.int64)  # polarity as -1 / +1
    for name, a in (("x", x), ("y", y), ("p", p)):
        if a.size and a.min() < 0:
            raise ValueError(f"negative {name} coordinate {a.min()}")
    if sensor_size is None:
        size = tuple(int(a.max()) + 1 if a.size else 1 for a in (x, y, p))
    else:
        size = tuple(int(s) for s in sensor_size)
        if len(size) == 2:
            size = (size[0], 1, size[1])
        if len(size) != 3:
            raise ValueError(f"sensor_size must be (W, H, P) or (W, P), got {sensor_size}")
    W, H, P = size
    for name, a, n in (("x", x, W), ("y", y, H), ("p", p, P)):
        if a.size and a.max() >= n:
            raise ValueError(f"{name} coordinate {a.max()} outside the sensor size {size}")
    channels = (x * H + y) * P + p
    t = t.astype(np.float32)
    return EventDataset(t, channels.astype(np.int64), np.asarray(offsets, np.int64),
                        np.asarray(labels, np.int64), n_channels=W * H * P,
                        duration=None if duration is None else float(duration), n_classes=n_classes)


def spiking_lca_to_nir(dictionary, alpha: float = 0.1, *, positive: bool = False, fixed_point: bool = False,
                       normalize: bool = False, **solver):
    """The spiking LCA that ``lca.sparse_encode(X, dictionary, alpha, mode="spiking", ...)``
    runs, as a ``nir.NIRGraph`` (``lca encode --mode spiking --export-nir``): input ``Affine``
    (``dt * Phi^T``, bias ``-dt * alpha``), ``IF`` neurons (threshold, subtractive reset),
    recurrent ``Linear`` (``-threshold * G``; ON/OFF pairs for signed codes), the Loihi
    integer weights in the metadata of node ``inhibition`` with ``fixed_point``. Signals
    with ``max|Phi^T x| = 1`` give ``sparse_encode``'s codes (``lca::snn::nir``). Settings:
    ``dt``, ``time_steps``, ``settle``, ``spike_threshold``, ``pair_coupling``
    (``current_decay`` must be 0). Needs the ``nir`` package."""
    import nir
    from . import _matrix, _SPIKING_KEYS

    unknown = sorted(set(solver) - set(_SPIKING_KEYS))
    if unknown:
        raise TypeError(f"spiking_lca_to_nir() got unknown settings: {', '.join(unknown)}")
    settings = dict({k: v for k, v in solver.items() if v is not None}, positive=bool(positive),
                    fixed_point=bool(fixed_point), normalize=bool(normalize))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "lca.nir")
        _lca.spiking_lca_nir(_matrix(dictionary, "dictionary"), float(alpha), path, settings)
        return nir.read(path)
