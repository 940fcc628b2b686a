"""Spiking neural networks trained with surrogate gradients (``lca snn``) on arrays.

:func:`train` builds and trains the network ``lca snn train`` builds from the same
settings (CUBA-LIF layers, latency or rate input encoding, Adam with a cosine
schedule, backpropagation through time with a surrogate spike derivative) and
returns a :class:`Model`; :meth:`Model.evaluate` is ``lca snn eval``, and
``Model.save`` / :func:`load` read and write the CLI's ``model.json``. Defaults
come from the per-dataset recipes of ``lca::snn::defaults`` (:func:`recipe`), the
same ones the CLI reads.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import numpy as np

from . import _lca

__all__ = ["train", "load", "load_dataset", "recipe", "Model"]

Model = _lca.SnnModel


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


def train(X, y, *, validation: Optional[tuple] = None, test: Optional[tuple] = None,
          dataset: str = "yinyang", hidden: Optional[Sequence[int]] = None, epochs: Optional[int] = None,
          batch_size: Optional[int] = None, lr: Optional[float] = None, seed: int = 0,
          n_jobs: Optional[int] = None, **settings):
    """Trains a spiking classifier on the rows of ``X`` with labels ``y``.

    Hyperparameters come from the recipe of ``dataset`` -- the one ``lca snn train
    --dataset NAME`` uses (``"yinyang"``, the default, is also the recipe of a CSV
    file; ``"digits"``; ``"streams"``; see :func:`recipe`) -- and every setting
    passed overrides its entry as the CLI flag of that name does, so the same
    data, recipe, settings and ``seed`` give the CLI's model bit for bit.
    Results do not depend on ``n_jobs``. Ctrl-C stops training and raises
    KeyboardInterrupt.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training inputs.
    y : array-like of shape (n_samples,)
        Integer class labels 0..n_classes-1.
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

    for fixed, trained in (("fixed_decays", "train_decays"), ("fixed_threshold", "train_threshold")):
        if fixed in settings:
            if trained in settings:
                raise TypeError(f"pass {trained} or {fixed}, not both")
            settings[trained] = not settings.pop(fixed)
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
