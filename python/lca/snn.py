"""Spiking neural networks trained with surrogate gradients (``lca snn``) on arrays.

:func:`train` builds and trains the network ``lca snn train`` builds from the same
settings (CUBA-LIF layers, latency or rate input encoding, Adam with a cosine
schedule, backpropagation through time with a surrogate spike derivative) and
returns a :class:`Model`; :meth:`Model.evaluate` is ``lca snn eval``, and
``Model.save`` / :func:`load` read and write the CLI's ``model.json``.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from . import _lca

__all__ = ["train", "load", "Model"]

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


def train(X, y, *, validation: Optional[tuple] = None, test: Optional[tuple] = None,
          hidden: Sequence[int] = (100,), epochs: int = 60, batch_size: int = 16, lr: float = 2e-3,
          seed: int = 0, n_jobs: Optional[int] = None, **settings):
    """Trains a spiking classifier on the rows of ``X`` with labels ``y`` (0..n_classes-1).

    ``validation`` / ``test``: optional ``(X, y)`` pairs scored after every epoch
    (with a validation set the best epoch's parameters are kept unless
    ``keep_last=True``). Other settings by their ``lca snn train`` flag names with
    underscores, same defaults: ``recurrent``, ``loss`` (``"max"``, ``"mean"``,
    ``"count"``, ``"ttfs"``), ``encoder`` (``"latency"``, ``"rate"``),
    ``time_steps``, ``window``, ``max_rate``, ``lr_final``, ``current_decay``,
    ``voltage_decay``, ``firing_threshold``, ``reset``, ``surrogate``,
    ``surrogate_width``, ``alpha``, ``weight_scale``, ``output_scale``,
    ``fixed_decays``, ``fixed_threshold``, ``reset_gradient``, ``ttfs_tau0``,
    ``ttfs_tau1``, ``ttfs_gamma``, ``n_classes``; ``scale=False`` skips the
    per-feature [0, 1] scaling fitted on ``X`` (for data already in [0, 1]).

    Returns ``(model, log)``: the :class:`Model` and the per-epoch log as a dict
    of arrays (``training.csv``'s columns). Results do not depend on ``n_jobs``.
    """
    from . import _n_jobs

    s = dict(settings, hidden=[int(h) for h in hidden], epochs=int(epochs), batch_size=int(batch_size),
             lr=float(lr), seed=int(seed))
    val = _xy(*validation, "validation") if validation is not None else None
    tst = _xy(*test, "test") if test is not None else None
    model, log = _lca.snn_train(_xy(X, y, "train"), val, tst, s, _n_jobs(n_jobs))
    return model, dict(log)


def load(path) -> "Model":
    """Reads a ``model.json`` written by ``lca snn train`` or ``Model.save``."""
    return _lca.SnnModel.load(os.fspath(path))
