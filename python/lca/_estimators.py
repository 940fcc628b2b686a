"""scikit-learn-style estimators on the lca engine.

They follow scikit-learn's conventions (``__init__`` only stores keyword
parameters, ``fit`` returns ``self``, learned attributes end in ``_``,
``get_params`` / ``set_params``) and inherit ``BaseEstimator`` and
``TransformerMixin`` when scikit-learn is installed; without it a small
stand-in provides ``get_params``, ``set_params``, ``fit_transform`` and
``clone``-compatible behaviour.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Optional

import numpy as np

from . import _lca

try:  # scikit-learn is optional
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import TransformerMixin as _Transformer

    try:
        from sklearn.utils.validation import validate_data as _validate_data
    except ImportError:  # scikit-learn < 1.6
        _validate_data = None
    from sklearn.utils.validation import check_is_fitted as _check_is_fitted

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised in the no-sklearn test
    HAVE_SKLEARN = False
    _validate_data = None
    _check_is_fitted = None

    class _Base:
        """get_params / set_params as scikit-learn's BaseEstimator defines them."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                                     f"Valid parameters are: {valid!r}.")
                setattr(self, key, value)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class _Transformer:
        def fit_transform(self, X, y=None, **fit_params):
            return self.fit(X, y, **fit_params).transform(X)


from . import sparse_encode  # noqa: E402  (the package's function)


class _NotFittedError(ValueError, AttributeError):
    """Raised by transform before fit (scikit-learn's NotFittedError when installed)."""


def _not_fitted(est):
    if HAVE_SKLEARN:
        _check_is_fitted(est)
    elif not any(k.endswith("_") and not k.startswith("__") for k in vars(est)):
        raise _NotFittedError(f"This {type(est).__name__} instance is not fitted yet; call 'fit' first.")


def _check_X(est, X, reset: bool):
    """Validated 2-D float array (float32 kept, float64 kept, others -> float64),
    with n_features_in_ set (reset) or checked, as scikit-learn estimators do."""
    if HAVE_SKLEARN:
        kw = dict(dtype=[np.float32, np.float64], order=None, ensure_2d=True, accept_sparse=False)
        if _validate_data is not None:
            return _validate_data(est, X, reset=reset, **kw)
        return est._validate_data(X, reset=reset, **kw)
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got array of shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("Input X contains NaN or infinity.")
    if reset:
        est.n_features_in_ = X.shape[1]
    elif X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
                         f"{est.n_features_in_} features as input.")
    return X


def _seed(random_state) -> int:
    """An engine seed: None -> 0 (deterministic, like the CLI's --seed 0), an
    int as is, a numpy RandomState / Generator -> one draw from it."""
    if random_state is None:
        return 0
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise ValueError(f"random_state must be None, an int, a RandomState or a Generator, got {random_state!r}")


class _Coding:
    """Settings shared by the estimators' transform (passed to sparse_encode)."""

    def _encode(self, X, dictionary, alpha):
        return sparse_encode(
            X, dictionary, alpha, positive=self.positive_code if hasattr(self, "positive_code") else self.positive,
            mode=self.mode, fixed_point=self.fixed_point, threshold=self.threshold, tol=self.tol,
            max_iter=self.max_iter, n_jobs=self.n_jobs, normalize=getattr(self, "normalize", False),
        )


class SparseCoder(_Coding, _Transformer, _Base):
    """Sparse coding over a fixed dictionary (a scikit-learn transformer).

    ``transform(X)`` returns the LCA codes of the rows of ``X``, as
    :func:`lca.sparse_encode`. Like scikit-learn's ``SparseCoder`` it needs no
    fit: ``fit`` only checks the input and sets ``n_features_in_``.

    Parameters
    ----------
    dictionary : array-like of shape (n_atoms, n_features)
        Atoms with unit L2 norm (unless ``normalize=True``).
    alpha : float
        The LASSO penalty, SPAMS's ``lambda1``.
    positive : bool, default=False
        Only non-negative codes.
    mode : {"rate", "spiking"}, default="rate"
        Rate LCA or integrate-and-fire LCA (spike rates).
    fixed_point : bool, default=False
        Spiking mode: Loihi-style integer arithmetic.
    threshold : {"soft", "hard", "firm"}, default="soft"
        Rate mode thresholding.
    tol : float, optional
        Rate mode tolerance (see :func:`lca.sparse_encode`).
    max_iter : int, optional
        Rate mode: at most this many dynamics steps.
    n_jobs : int, optional
        Threads (None or -1: all cores); results do not depend on it.
    normalize : bool, default=False
        Rescale non-unit atoms.

    Attributes
    ----------
    n_components_ : int
        Number of atoms.
    n_features_in_ : int
        Number of features seen by ``fit``.

    See Also
    --------
    sparse_encode : The function this estimator calls.
    DictionaryLearning : Learns the dictionary too.
    """

    def __init__(self, dictionary, *, alpha=_lca.defaults()["alpha"], positive=False, mode="rate",
                 fixed_point=False, threshold="soft", tol=None, max_iter=None, n_jobs=None, normalize=False):
        self.dictionary = dictionary
        self.alpha = alpha
        self.positive = positive
        self.mode = mode
        self.fixed_point = fixed_point
        self.threshold = threshold
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.normalize = normalize

    def fit(self, X, y=None):
        """Checks ``X`` against the dictionary (nothing is learned).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Signals.
        y : None
            Ignored.

        Returns
        -------
        self : SparseCoder
            The estimator.
        """
        X = _check_X(self, X, reset=True)
        self._check_dictionary(X.shape[1])
        return self

    def _check_dictionary(self, n_features):
        D = np.asarray(self.dictionary)
        if D.ndim != 2 or D.shape[1] != n_features:
            raise ValueError(f"dictionary has shape {D.shape} but X has {n_features} features; "
                             f"expected (n_atoms, {n_features})")
        return D

    def transform(self, X):
        """Codes of the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Signals.

        Returns
        -------
        ndarray of shape (n_samples, n_atoms)
            float32 codes.
        """
        if hasattr(self, "n_features_in_"):
            X = _check_X(self, X, reset=False)
        else:
            X = _check_X(self, X, reset=True)
        D = self._check_dictionary(X.shape[1])
        return self._encode(X, D, self.alpha)

    def inverse_transform(self, codes):
        """Reconstructions ``codes @ dictionary``.

        Parameters
        ----------
        codes : array-like or sparse matrix of shape (n_samples, n_atoms)
            Codes, e.g. from ``transform``.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            The reconstructed signals.
        """
        codes = codes.toarray() if hasattr(codes, "toarray") else np.asarray(codes)
        return codes @ np.asarray(self.dictionary, dtype=codes.dtype if codes.dtype.kind == "f" else None)

    @property
    def n_components_(self):
        return np.asarray(self.dictionary).shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"requires_fit": False, "preserves_dtype": [np.float32], "stateless": True}


class DictionaryLearning(_Coding, _Transformer, _Base):
    """Dictionary learning with LCA codes (``lca learn``'s engine) on the rows of ``X``.

    ``fit(X)`` runs ``n_steps`` minibatch steps (or until ``max_seconds``) over
    the rows of ``X`` -- each pass in a seeded shuffled order, the initial atoms
    ``n_components`` distinct rows drawn with ``random_state`` -- exactly as
    ``lca learn --patches X.npy`` with the same settings and ``--seed``, so both
    give the same dictionary. Pass prepared patches (e.g. from
    :func:`lca.extract_patches` with ``normalize=True``); ``X`` is used as is.
    A KeyboardInterrupt during ``fit`` stops after the current step; the
    attributes hold the state reached, and the interrupt propagates.

    Parameters
    ----------
    n_components : int
        Number of atoms.
    alpha : float
        LASSO penalty of the codes during learning (at the first step).
    n_steps : int, optional
        Minibatch steps, the horizon of the learning-rate schedule: the same
        result on every machine. None (default): 2000 for 128 atoms of 64
        values, scaled by sqrt(atoms * features / 8192) for larger problems;
        with ``max_seconds``, chosen to fill the budget. ``0`` with
        ``max_seconds``: no step limit (needs ``rule='online'``, the rule
        without a schedule).
    max_seconds : float, optional
        Time budget of a fit, in seconds of wall time. Without ``n_steps``
        the fit measures its pace and sizes its schedule to use the whole
        budget.
    batch_size : int
        Rows per minibatch (clipped to the number of rows).
    rule : {"hebbian", "online"}
        Gradient on the reconstruction error with a decaying learning rate,
        or online dictionary learning (Mairal et al. 2010, SPAMS trainDL).
    learning_rate, momentum : float
        Hebbian rule schedule.
    learning_rate_final : float, optional
        Learning rate at the last step, whatever the horizon. None (default):
        0.4 at the problem-size horizon, lower for longer horizons, as
        ``0.4 * (that horizon / n_steps) ** 0.75``.
    alpha_final : float, optional
        Alpha at the last step (geometric schedule); None keeps alpha.
    resample_after : int
        Re-seed an atom silent for this many steps (0: never).
    random_state : int, optional
        Seed of every random choice (None: 0, deterministic).
    transform_alpha : float, optional
        Alpha of ``transform`` (None: the final learning alpha).
    positive_code, mode, fixed_point, threshold, tol, max_iter
        ``transform``'s solver (see :func:`lca.sparse_encode`).
    n_jobs : int, optional
        Threads (None or -1: all cores); results do not depend on it.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        float32 unit-norm atoms.
    n_iter_ : int
        Steps done (all ``fit`` / ``partial_fit`` calls).
    n_steps_ : int
        Same as ``n_iter_`` (scikit-learn's MiniBatchDictionaryLearning name).
    training_log_ : dict of ndarray
        One entry per step (``step``, ``seconds``, ``mse``, ``l1``,
        ``active_fraction``, ``energy``), as ``training.csv``.
    status_ : str
        How the last ``fit`` ended (``completed``, ``time-budget``,
        ``interrupted``).

    See Also
    --------
    learn_images : Learns from the patches of a folder of photos.
    SparseCoder : Coding over a fixed dictionary.
    """

    def __init__(self, n_components=_lca.defaults()["n_components"], *, alpha=_lca.defaults()["alpha"],
                 n_steps=None, max_seconds=None, batch_size=_lca.defaults()["batch_size"],
                 rule=_lca.defaults()["rule"], learning_rate=_lca.defaults()["learning_rate"],
                 learning_rate_final=None, alpha_final=None,
                 momentum=_lca.defaults()["momentum"], resample_after=_lca.defaults()["resample_after"],
                 random_state=None, transform_alpha=None, positive_code=False, mode="rate", fixed_point=False,
                 threshold="soft", tol=None, max_iter=None, n_jobs=None):
        self.n_components = n_components
        self.alpha = alpha
        self.n_steps = n_steps
        self.max_seconds = max_seconds
        self.batch_size = batch_size
        self.rule = rule
        self.learning_rate = learning_rate
        self.learning_rate_final = learning_rate_final
        self.alpha_final = alpha_final
        self.momentum = momentum
        self.resample_after = resample_after
        self.random_state = random_state
        self.transform_alpha = transform_alpha
        self.positive_code = positive_code
        self.mode = mode
        self.fixed_point = fixed_point
        self.threshold = threshold
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs

    def _settings(self, n_samples):
        s = dict(
            n_components=int(self.n_components), alpha=float(self.alpha),
            n_steps=None if self.n_steps is None else int(self.n_steps),
            max_seconds=self.max_seconds, batch_size=int(min(self.batch_size, n_samples)), rule=self.rule,
            learning_rate=float(self.learning_rate), learning_rate_final=self.learning_rate_final,
            alpha_final=self.alpha_final, momentum=float(self.momentum),
            resample_after=int(self.resample_after), random_state=_seed(self.random_state),
        )
        return {k: v for k, v in s.items() if v is not None}

    def _jobs(self):
        from . import _n_jobs

        return _n_jobs(self.n_jobs)

    def _run(self, learner, X):
        try:
            self.status_ = learner.run(self._jobs())
        finally:
            self._publish(learner, X)
        return self

    def _publish(self, learner, X):
        self._learner = learner
        self.components_ = learner.components()
        self.n_iter_ = int(learner.steps_done())
        self.n_steps_ = self.n_iter_
        self.training_log_ = dict(learner.log())

    def fit(self, X, y=None):
        """Learns ``components_`` from the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training signals (prepared patches).
        y : None
            Ignored.

        Returns
        -------
        self : DictionaryLearning
            The fitted estimator.
        """
        X = _check_X(self, X, reset=True)
        learner = _lca.PatchLearner(X, self._settings(X.shape[0]))
        self.status_ = "running"
        return self._run(learner, X)

    def partial_fit(self, X, y=None):
        """One learning step on the rows of ``X``.

        The first call draws the initial atoms from them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One minibatch.
        y : None
            Ignored.

        Returns
        -------
        self : DictionaryLearning
            The updated estimator.
        """
        first = not hasattr(self, "_learner")
        X = _check_X(self, X, reset=first)
        if first:
            self._learner = _lca.PatchLearner(X, self._settings(X.shape[0]))
            self.status_ = "running"
        self._learner.step(X, self._jobs())
        self._publish(self._learner, X)
        return self

    def transform(self, X):
        """LCA codes of the rows of ``X`` over ``components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Signals.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            float32 codes.
        """
        _not_fitted(self)
        X = _check_X(self, X, reset=False)
        alpha = self.transform_alpha
        if alpha is None:
            alpha = self.alpha if self.alpha_final is None else self.alpha_final
        return self._encode(X, self.components_, float(alpha))

    def inverse_transform(self, codes):
        """Reconstructions ``codes @ components_``.

        Parameters
        ----------
        codes : array-like or sparse matrix of shape (n_samples, n_components)
            Codes, e.g. from ``transform``.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            The reconstructed signals.
        """
        _not_fitted(self)
        codes = codes.toarray() if hasattr(codes, "toarray") else np.asarray(codes, dtype=np.float32)
        return codes @ self.components_

    def __getstate__(self):
        # The native learner cannot be pickled; a restored estimator keeps its
        # attributes and starts a new partial_fit sequence.
        state = dict(self.__dict__)
        state.pop("_learner", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float32]}


# ---------------------------------------------------------------------------
# Convolutional estimators


def _check_images(est, X, reset: bool, channels: Optional[int], kernel: int = 1):
    """``X`` as (n, C, H, W) images and whether it came flat.

    (n, C, H, W) and (n, H, W) arrays are images; a 2-D ``X`` (n_samples,
    n_features) -- what scikit-learn pipelines pass -- holds one flattened image
    per row, of ``est.image_shape`` ((H, W) or (C, H, W); default (1, n_features),
    a one-pixel-high image), and gets ``n_features_in_`` like any estimator.
    """
    from . import _conv_images

    if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        _check_X(est, X, reset)  # raises scikit-learn's message for sparse input
    ndim = X.ndim if isinstance(X, np.ndarray) else np.asarray(X).ndim
    if ndim > 2:  # images; lower dimensions get scikit-learn's 2-D checks and messages
        if HAVE_SKLEARN:
            from sklearn.utils import check_array

            X = check_array(X, dtype=[np.float32, np.float64], order=None, allow_nd=True, ensure_2d=False)
        else:
            X = np.asarray(X)
            if X.dtype not in (np.float32, np.float64):
                X = X.astype(np.float64)
            if not np.all(np.isfinite(X)):
                raise ValueError("Input X contains NaN or infinity.")
        if X.ndim not in (3, 4):
            raise ValueError(f"Expected images (n, C, H, W) or (n, H, W), or a 2-D array of flattened "
                             f"images, got an array of shape {np.shape(X)}")
        return _conv_images(X, 1 if channels is None and X.ndim == 3 else (channels or X.shape[1]), "X"), False
    X = _check_X(est, X, reset)
    n, f = X.shape
    shape = est.image_shape
    if shape is None:
        c, h, w = (channels or 1), 1, f // max(channels or 1, 1)
    elif len(shape) == 2:
        h, w = int(shape[0]), int(shape[1])
        c = f // max(h * w, 1)
    elif len(shape) == 3:
        c, h, w = (int(v) for v in shape)
    else:
        raise ValueError(f"image_shape must be (H, W) or (C, H, W), got {shape!r}")
    if c * h * w != f or (channels is not None and c != channels):
        raise ValueError(f"X has {f} features per row, which is not one flattened image of shape "
                         f"({c}, {h}, {w}); set image_shape=(H, W) or (C, H, W)")
    if min(h, w) < kernel:
        raise ValueError(f"X is 2-D: each row is an image of {h}x{w} pixels ({'the default, ' if shape is None else ''}"
                         f"image_shape={shape}), smaller than the {kernel}x{kernel} filters; set image_shape=(H, W) "
                         f"or (C, H, W), or pass images (n, C, H, W)")
    return X.reshape(n, c, h, w), True


class _ConvCoding:
    """transform / inverse_transform shared by the convolutional estimators."""

    def _filters(self):
        raise NotImplementedError

    def _dims_of(self, filters, X) -> int:
        """Spatial axes of coding ``X``: flat rows are 2-D images; arrays follow
        :func:`lca.conv_encode`'s rule (``dims`` or inferred by the library)."""
        from . import _conv_dims

        if hasattr(X, "toarray"):
            return 2
        X = X if isinstance(X, np.ndarray) else np.asarray(X)
        if X.ndim <= 2:
            return 2
        return _conv_dims(filters, X, getattr(self, "dims", None))

    def _conv_encode(self, X, alpha):
        from . import _conv_filters, conv_encode

        F = self._filters()
        dims = self._dims_of(F, X)
        fixed_point = getattr(self, "fixed_point", False)
        if fixed_point and self.mode != "spiking":
            raise ValueError("fixed_point applies to mode='spiking' only")
        mode_settings = dict(positive=self._positive(), tol=self.tol, max_iter=self.max_iter) \
            if self.mode == "rate" else dict(time_steps=self.time_steps)
        if fixed_point:
            mode_settings["fixed_point"] = True
        common = dict(boundary=self.boundary, mode=self.mode, normalize=getattr(self, "normalize", False),
                      n_jobs=self.n_jobs, dims=dims, **mode_settings)
        if dims != 2:
            return conv_encode(X, F, alpha, **common)
        filters = _conv_filters(F, 2)
        images, flat = _check_images(self, X, reset=False, channels=filters.shape[1], kernel=filters.shape[-1])
        codes = conv_encode(images, filters, alpha, **common)
        return codes.reshape(len(codes), -1) if flat else codes

    def inverse_transform(self, codes):
        """Images rebuilt from code maps (see :func:`lca.conv_reconstruct`).

        Parameters
        ----------
        codes : array-like of shape (n, n_filters, H, W) or (n, n_filters*H*W)
            Code maps, or flat codes as ``transform`` returns for 2-D input.

        Returns
        -------
        ndarray of shape (n, C, H, W) or (n, C*H*W)
            float32 images, flat for flat codes.
        """
        from . import _conv_filters, conv_reconstruct

        F = self._filters()
        A = np.asarray(codes.toarray() if hasattr(codes, "toarray") else codes)
        if A.ndim > 2:
            return conv_reconstruct(A, F, boundary=self.boundary, normalize=getattr(self, "normalize", False),
                                    dims=getattr(self, "dims", None))
        filters = _conv_filters(F, 2)
        if A.ndim != 2:
            raise ValueError(f"codes: expected (n, n_filters, H, W) or flat (n, n_filters*H*W), got {A.shape}")
        m = filters.shape[0]
        shape = self.image_shape
        h, w = (1, A.shape[1] // m) if shape is None else (int(shape[-2]), int(shape[-1]))
        if m * h * w != A.shape[1]:
            raise ValueError(f"codes have {A.shape[1]} values per row, not {m} maps of {h}x{w}")
        images = conv_reconstruct(A.reshape(len(A), m, h, w), filters, boundary=self.boundary,
                                  normalize=getattr(self, "normalize", False))
        return images.reshape(len(A), -1)


def _filters_array(filters):
    from . import _float_array

    return _float_array(filters, "filters")


class ConvSparseCoder(_ConvCoding, _Transformer, _Base):
    """Convolutional sparse coding over fixed filters (a scikit-learn transformer).

    ``transform(X)`` returns the code maps of whole images, as
    :func:`lca.conv_encode`. ``X`` is images (n, C, H, W) or (n, H, W), giving
    codes (n, n_filters, H, W); or, as in a scikit-learn pipeline, a 2-D array
    of one flattened image per row (of ``image_shape``), giving flat codes
    (n, n_filters*H*W). Like :class:`SparseCoder` it needs no fit.

    Parameters
    ----------
    filters : array-like of shape (n_filters, C, k, k) or (n_filters, k, k)
        PyTorch's conv-weight layout; unit-norm filters unless ``normalize``.
    alpha : float
        The L1 penalty of ``1/2||x - sum_m D_m * A_m||^2 + alpha||A||_1``.
    boundary : {"circular", "zero"}, default="circular"
        Edges of the images.
    positive : bool, default=False
        Rate mode: only non-negative codes.
    mode : {"rate", "spiking"}, default="rate"
        Rate or integrate-and-fire convolutional LCA.
    tol : float, optional
        Rate mode tolerance (see :func:`lca.conv_encode`).
    max_iter : int, optional
        Rate mode: at most this many sweeps.
    time_steps : int, optional
        Spiking mode: steps simulated.
    image_shape : tuple of int, optional
        (H, W) or (C, H, W) of the flattened images of a 2-D ``X`` (default:
        a one-pixel-high row image, which fits only 1 x 1 filters).
    normalize : bool, default=False
        Rescale non-unit filters.
    n_jobs : int, optional
        Threads (images run in parallel); results do not depend on it.
    fixed_point : bool, default=False
        Spiking mode: Loihi's integer arithmetic (``lca encode --fixed-point``).
    dims : {1, 2, 3}, optional
        Spatial axes: 1-D signals (n, C, T) over filters (n_filters, C, k),
        3-D volumes (n, C, D, H, W) over (n_filters, [C,] kd, kh, kw).
        Default: inferred as in :func:`lca.conv_encode` (a flat 2-D ``X`` is
        2-D images).

    Attributes
    ----------
    n_components_ : int
        Number of filters.
    n_features_in_ : int
        Values per row of a 2-D ``X`` seen by ``fit``.

    See Also
    --------
    conv_encode : The function this estimator calls.
    ConvDictionaryLearning : Learns the filters too.
    """

    def __init__(self, filters, *, alpha=_lca.defaults()["conv_alpha"], boundary="circular", positive=False,
                 mode="rate", tol=None, max_iter=None, time_steps=None, image_shape=None, normalize=False,
                 n_jobs=None, fixed_point=False, dims=None):
        self.filters = filters
        self.dims = dims
        self.alpha = alpha
        self.boundary = boundary
        self.positive = positive
        self.mode = mode
        self.fixed_point = fixed_point
        self.tol = tol
        self.max_iter = max_iter
        self.time_steps = time_steps
        self.image_shape = image_shape
        self.normalize = normalize
        self.n_jobs = n_jobs

    def _filters(self):
        return _filters_array(self.filters)

    def _positive(self):
        return self.positive

    def fit(self, X, y=None):
        """Checks ``X`` against the filters (nothing is learned).

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W) or (n, C*H*W)
            Images.
        y : None
            Ignored.

        Returns
        -------
        self : ConvSparseCoder
            The estimator.
        """
        from . import _conv_filters

        F = self._filters()
        dims = self._dims_of(F, X)
        if dims != 2:
            return self
        D = _conv_filters(F, 2)
        _check_images(self, X, reset=True, channels=D.shape[1], kernel=D.shape[-1])
        return self

    def transform(self, X):
        """Code maps of the images in ``X``.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W) or (n, C*H*W)
            Images.

        Returns
        -------
        ndarray of shape (n, n_filters, H, W) or (n, n_filters*H*W)
            float32 code maps, flat for 2-D input.
        """
        if not hasattr(self, "n_features_in_") and not hasattr(X, "toarray") and np.asarray(X).ndim == 2:
            from . import _conv_filters

            D = _conv_filters(self._filters(), 2)  # unfitted (stateless): the 2-D width is set by this call
            _check_images(self, X, reset=True, channels=D.shape[1], kernel=D.shape[-1])
        return self._conv_encode(X, float(self.alpha))

    @property
    def n_components_(self):
        return self._filters().shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"requires_fit": False, "preserves_dtype": [np.float32], "stateless": True}


class ConvDictionaryLearning(_ConvCoding, _Transformer, _Base):
    """Convolutional dictionary learning (``lca learn --conv``'s learner and coder) on images,
    1-D signals or 3-D volumes.

    ``fit(X)`` runs ``n_steps`` steps (or until ``max_seconds``): each codes
    ``images_per_step`` random ``crop x crop`` crops of the images of ``X`` (seeded
    by ``random_state`` and the step) with the rate convolutional LCA (circular
    boundary, tolerance ``coder_tol``) and updates the filters from the online
    sufficient statistics of every coded image (Mairal et al.'s online rule in
    convolutional form; see ``lca::conv::ConvLearner``). The initial filters are
    random k x k windows of the images. ``X`` is used as is: high-pass or whiten
    it first as the CLI does for photos. A KeyboardInterrupt during ``fit``
    stops after the current step; the attributes hold the state reached, and
    the interrupt propagates.

    Parameters
    ----------
    n_components : int
        Number of filters.
    kernel_size : int, optional
        Filter side k (taps of 1-D filters; kh = kw of 3-D ones). None: the
        library's default for the dimension (12 for images, 128 taps, 7).
    alpha : float
        L1 penalty of the codes while learning.
    n_steps : int
        Learning steps (``0`` with ``max_seconds``: no step limit).
    max_seconds : float, optional
        Time budget of one ``fit``, in seconds of training.
    crop : int, optional
        Side of the random crops (0: whole images; else at least 2k - 1):
        samples of 1-D crops, H = W of 3-D ones. None: the library's default
        for the dimension (128, 4096, 32).
    images_per_step : int
        Crops coded per step.
    dict_sweeps : int
        Filter update sweeps per step.
    forgetting : int
        Forgetting window of the statistics.
    coder_tol : float
        Tolerance of the coder while learning.
    random_state : int, optional
        Seed of every random choice (None: 0).
    transform_alpha : float, optional
        Alpha of ``transform`` (None: ``alpha``).
    boundary, positive_code, mode, tol, max_iter, time_steps
        ``transform``'s coder (see :func:`lca.conv_encode`).
    image_shape : tuple of int, optional
        Shape of the flattened images of a 2-D ``X`` (see
        :class:`ConvSparseCoder`).
    n_jobs : int, optional
        Threads; results do not depend on it.
    dims : {1, 2, 3}, optional
        Spatial axes of ``X``: 1 for signals (n, C, T), 2 for images, 3 for
        volumes or video (n, C, D, H, W). None: 3 for a 5-D ``X``, else 2
        (images, as always); ``transform`` then follows :func:`lca.conv_encode`.
    kernel_depth, crop_depth : int, optional
        With ``dims=3``: depth of the filters and of the crops (None: 5, 16).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, C, k, k), (n_components, C, k) or (n_components, C, kd, k, k)
        float32 unit-norm filters (PyTorch layout of their dimension).
    n_iter_ : int
        Steps done (all ``fit`` / ``partial_fit`` calls).
    n_steps_ : int
        Same as ``n_iter_``.
    training_log_ : dict of ndarray
        One entry per step (``step``, ``seconds``, ``mse``, ``l1``,
        ``active_fraction``, ``energy`` per pixel).
    status_ : str
        How the last ``fit`` ended (``completed``, ``time-budget``,
        ``interrupted``).

    See Also
    --------
    ConvSparseCoder : Coding over fixed filters.
    """

    def __init__(self, n_components=_lca.defaults()["conv_n_components"], *,
                 kernel_size=None, alpha=_lca.defaults()["conv_learn_alpha"],
                 n_steps=_lca.defaults()["conv_n_steps"], max_seconds=None, crop=None,
                 images_per_step=_lca.defaults()["conv_images_per_step"],
                 dict_sweeps=_lca.defaults()["conv_dict_sweeps"], forgetting=_lca.defaults()["conv_forgetting"],
                 coder_tol=_lca.defaults()["conv_coder_tol"], random_state=None, transform_alpha=None,
                 boundary="circular", positive_code=False, mode="rate", tol=None, max_iter=None, time_steps=None,
                 image_shape=None, n_jobs=None, dims=None, kernel_depth=None, crop_depth=None):
        self.n_components = n_components
        self.kernel_size = kernel_size
        self.alpha = alpha
        self.n_steps = n_steps
        self.max_seconds = max_seconds
        self.crop = crop
        self.images_per_step = images_per_step
        self.dict_sweeps = dict_sweeps
        self.forgetting = forgetting
        self.coder_tol = coder_tol
        self.random_state = random_state
        self.transform_alpha = transform_alpha
        self.boundary = boundary
        self.positive_code = positive_code
        self.mode = mode
        self.tol = tol
        self.max_iter = max_iter
        self.time_steps = time_steps
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.dims = dims
        self.kernel_depth = kernel_depth
        self.crop_depth = crop_depth

    def _settings(self, dims=2):
        opt = lambda v: None if v is None else int(v)  # noqa: E731
        s = dict(n_components=int(self.n_components), kernel_size=opt(self.kernel_size), alpha=float(self.alpha),
                 n_steps=int(self.n_steps), max_seconds=self.max_seconds, crop=opt(self.crop),
                 images_per_step=int(self.images_per_step), dict_sweeps=int(self.dict_sweeps),
                 forgetting=int(self.forgetting), coder_tol=float(self.coder_tol),
                 random_state=_seed(self.random_state), kernel_depth=opt(self.kernel_depth),
                 crop_depth=opt(self.crop_depth))
        if dims != 2:
            s["dims"] = dims
        return {k: v for k, v in s.items() if v is not None}

    def _kernel(self):
        return _lca.defaults()["conv_kernel_size"] if self.kernel_size is None else int(self.kernel_size)

    def _learning_dims(self, X):
        """Spatial axes of the training signals ``X``: the library's rule
        (``dims`` checked against X's rank, else 3 for a 5-D X, else 2)."""
        shape = X.shape if hasattr(X, "shape") else np.asarray(X).shape
        return _lca.conv_learning_dims(list(shape), self.dims)

    def _signals(self, X, reset, channels=None):
        """``X`` as the learner takes it: images (n, C, H, W), or 1-D / 3-D
        signals as float32 arrays with their dimension."""
        dims = self._learning_dims(X)
        if dims == 2:
            images, _ = _check_images(self, X, reset=reset, channels=channels, kernel=self._kernel())
            return images, 2
        from . import _float_array

        X = np.ascontiguousarray(_float_array(X, "X"), dtype=np.float32)
        if not np.all(np.isfinite(X)):
            raise ValueError("Input X contains NaN or infinity.")
        if channels is not None and X.shape[1] != channels:
            raise ValueError(f"X has {X.shape[1]} channel(s) but the filters {channels}")
        return X, dims

    def _filters(self):
        _not_fitted(self)
        return self.components_

    def _positive(self):
        return self.positive_code

    def _jobs(self):
        from . import _n_jobs

        return _n_jobs(self.n_jobs)

    def _publish(self, learner):
        self._learner = learner
        self.components_ = learner.components()
        self.n_iter_ = int(learner.steps_done())
        self.n_steps_ = self.n_iter_
        self.training_log_ = dict(learner.log())

    def fit(self, X, y=None):
        """Learns ``components_`` from the images of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W) or (n, C*H*W)
            Training images.
        y : None
            Ignored.

        Returns
        -------
        self : ConvDictionaryLearning
            The fitted estimator.
        """
        images, dims = self._signals(X, reset=True)
        learner = _lca.ConvImageLearner(images, self._settings(dims))
        self.status_ = "running"
        try:
            self.status_ = learner.run(self._jobs())
        finally:
            self._publish(learner)
        return self

    def partial_fit(self, X, y=None):
        """One learning step on the whole images of ``X``.

        The first call draws the initial filters from them.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W) or (n, C*H*W)
            Images.
        y : None
            Ignored.

        Returns
        -------
        self : ConvDictionaryLearning
            The updated estimator.
        """
        first = not hasattr(self, "_learner")
        images, dims = self._signals(X, reset=first, channels=None if first else self.components_.shape[1])
        if first:
            self._learner = _lca.ConvImageLearner(images, self._settings(dims))
            self.status_ = "running"
        self._learner.step(images, self._jobs())
        self._publish(self._learner)
        return self

    def transform(self, X):
        """Code maps of the images of ``X`` over ``components_``.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W) or (n, C*H*W)
            Images.

        Returns
        -------
        ndarray of shape (n, n_components, H, W) or (n, n_components*H*W)
            float32 code maps, flat for 2-D input.
        """
        _not_fitted(self)
        alpha = self.alpha if self.transform_alpha is None else self.transform_alpha
        return self._conv_encode(X, float(alpha))

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_learner", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float32]}
