"""Sparse coding with the Locally Competitive Algorithm (LCA) from Python.

The same Rust engine as the ``lca`` command line, with numpy arrays in and out
and scikit-learn conventions:

* :func:`sparse_encode` -- LASSO codes of the rows of ``X`` (rate or spiking LCA);
  :func:`sparse_encode_file` -- the same for an ``.npy`` file of any length, in blocks;
* :class:`SparseCoder`, :class:`DictionaryLearning` -- scikit-learn estimators;
* :func:`conv_encode`, :func:`conv_reconstruct`, :class:`ConvSparseCoder`,
  :class:`ConvDictionaryLearning` -- convolutional sparse coding of whole images
  with PyTorch-layout filters ``(n_filters, channels, k, k)``;
* :func:`extract_patches`, :func:`reconstruct_image`, :func:`learn_images` -- images;
* :mod:`lca.snn` -- spiking networks trained with surrogate gradients.

Arrays follow scikit-learn's layout: signals ``X`` are ``(n_samples, n_features)``,
a dictionary is ``(n_atoms, n_features)`` (``components_``), codes are
``(n_samples, n_atoms)``. The engine computes in float32; a C-contiguous float32
``X`` is handed to it with a single memcpy, other dtypes and layouts with one
conversion pass, and the codes come back without a copy.

The objective is, per sample ``x`` and code ``a``::

    1/2 ||x - D^T a||_2^2 + alpha ||a||_1

so ``alpha`` is SPAMS's ``lambda1`` (``spams.lasso(..., mode=2)``) and exactly
scikit-learn's ``sparse_encode(X, D, algorithm='lasso_cd', alpha=alpha)``: that
function hands ``Lasso`` the penalty ``alpha / n_features`` with its data term
``1 / (2 n_features) ||x - D^T a||^2``, i.e. the same objective divided by
``n_features``, so the minimiser is the same (checked in tests/python).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any, Optional

import numpy as np

from . import _lca

__all__ = [
    "sparse_encode",
    "sparse_encode_file",
    "InvalidSettingError",
    "InvalidInputError",
    "lasso_objective",
    "extract_patches",
    "reconstruct_image",
    "learn_images",
    "SparseCoder",
    "DictionaryLearning",
    "conv_encode",
    "conv_reconstruct",
    "conv_objective",
    "ConvSparseCoder",
    "ConvDictionaryLearning",
    "DEFAULTS",
    "snn",
]

__version__ = "0.1.0"

#: A setting outside its valid range or an unknown name (a ``ValueError``);
#: ``.setting`` names it, e.g. ``'alpha'``.
InvalidSettingError = _lca.InvalidSettingError
#: Input data that cannot be used: shapes that do not fit, NaN or Inf, a zero
#: atom, a file whose content is not what it claims (a ``ValueError``).
InvalidInputError = _lca.InvalidInputError


def _invalid_setting(message: str, setting: str) -> "InvalidSettingError":
    """The engine's exception for a setting the Python layer refuses itself."""
    error = InvalidSettingError(message)
    error.setting = setting
    return error

#: The engine's defaults (the CLI's), e.g. ``DEFAULTS["tol"]``.
DEFAULTS: dict = dict(_lca.defaults())

_RATE_KEYS = (
    "threshold", "firm_width", "tau", "dt", "integrator", "max_iter", "tol",
    "projection", "patience", "adaptive_dt", "anneal_from", "anneal_decay",
)
_SPIKING_KEYS = ("dt", "time_steps", "settle", "spike_threshold", "current_decay",
                 "pair_coupling", "fixed_point")


def _n_jobs(n_jobs: Optional[int]) -> Optional[int]:
    """scikit-learn's convention: None -> all cores, -1 -> all, -2 -> all but one."""
    if n_jobs is None:
        return None
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs must not be 0")
    if n_jobs < 0:
        n_jobs = max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return n_jobs


def _matrix(a: Any, name: str) -> np.ndarray:
    """A 2-D float32/float64 array; other dtypes are converted to float32.
    C- or F-ordered float32/float64 arrays pass through as they are."""
    if hasattr(a, "toarray") and not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense array (X.toarray())")
    arr = np.asarray(a)
    if arr.dtype not in (np.float32, np.float64):
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
        arr = arr.astype(np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {arr.shape}")
    return arr


def sparse_encode(
    X,
    dictionary,
    alpha: float = DEFAULTS["alpha"],
    *,
    positive: bool = False,
    mode: str = "rate",
    fixed_point: bool = False,
    threshold: str = "soft",
    tol: Optional[float] = None,
    max_iter: Optional[int] = None,
    n_jobs: Optional[int] = None,
    sparse: bool = False,
    normalize: bool = False,
    init=None,
    return_info: bool = False,
    **solver,
):
    """Sparse codes of the rows of ``X`` over the atoms (rows) of ``dictionary``.

    Same settings, same codes as ``lca encode`` (bit for bit, any thread count).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals, float32 or float64, C or Fortran order.
    dictionary : array-like of shape (n_atoms, n_features)
        Atoms; rows must have unit L2 norm (within 1e-3), as for ``lca
        encode``, unless ``normalize=True``.
    alpha : float
        The L1 penalty lambda of ``1/2||x - D^T a||^2 + alpha ||a||_1``
        (SPAMS ``lambda1``; scikit-learn ``sparse_encode(algorithm='lasso_cd',
        alpha=alpha)`` solves the same problem). For ``mode='spiking'`` and the
        hard / firm thresholds it is the threshold level.
    positive : bool, default=False
        Only non-negative codes (``lca encode --nonneg``).
    mode : {"rate", "spiking"}, default="rate"
        Rate LCA (exact LASSO solutions by default) or integrate-and-fire
        LCA (codes are spike rates).
    fixed_point : bool, default=False
        Spiking mode: Loihi-style integer arithmetic.
    threshold : {"soft", "hard", "firm"}, default="soft"
        Rate mode: LASSO (soft), L0 (hard) or firm thresholding.
    tol : float, optional
        Rate mode: stop when ``max|b - u - Ga| <= tol max|b|``
        (default ``DEFAULTS["tol"]``).
    max_iter : int, optional
        Rate mode: at most this many dynamics steps (default
        ``DEFAULTS["max_iter"]``).
    n_jobs : int, optional
        Threads (None or -1: all cores). Results do not depend on it.
    sparse : bool, default=False
        Return a ``scipy.sparse.csr_matrix`` instead of an ndarray.
    normalize : bool, default=False
        Rescale non-unit atoms (the codes are then those of the normalised
        dictionary, as ``lca encode --normalize``).
    init : array-like of shape (n_samples, n_atoms), optional
        Rate mode: warm-start membrane states.
    return_info : bool, default=False
        Also return a dict (rate: ``iterations``, ``jumps``, ``converged``,
        ``states``; spiking: ``spike_counts``, ``saturated``).
    **solver
        The other flags of ``lca encode`` by their Python names -- rate:
        ``firm_width``, ``tau``, ``dt``, ``integrator`` (``"euler"`` or
        ``"exponential"``), ``projection``, ``patience``, ``adaptive_dt``,
        ``anneal_from``, ``anneal_decay``; spiking: ``dt``, ``time_steps``,
        ``settle``, ``spike_threshold``, ``current_decay``, ``pair_coupling``.

    Returns
    -------
    codes : ndarray of shape (n_samples, n_atoms) or scipy.sparse.csr_matrix
        float32 codes (a CSR matrix with ``sparse=True``).
    info : dict
        Only with ``return_info=True``.

    See Also
    --------
    lasso_objective : The objective the codes minimise.
    SparseCoder : The same coding as a scikit-learn transformer.

    Examples
    --------
    >>> import numpy as np, lca
    >>> D = np.eye(4, dtype=np.float32)
    >>> lca.sparse_encode(np.array([[1.0, 0.05, -0.5, 0.0]]), D, alpha=0.1).round(3)
    array([[ 0.9,  0. , -0.4,  0. ]], dtype=float32)
    """
    X = _matrix(X, "X")
    D = _matrix(dictionary, "dictionary")
    settings = _encode_settings("sparse_encode", mode, positive, normalize, fixed_point, threshold, tol,
                                max_iter, init is not None, solver)
    if mode == "rate":
        if init is not None:
            settings["init"] = _matrix(init, "init")
        settings["return_states"] = bool(return_info)
    codes, info = _lca.encode(X, D, float(alpha), settings, _n_jobs(n_jobs))
    if sparse:
        import scipy.sparse

        codes = scipy.sparse.csr_matrix(codes)
    return (codes, dict(info)) if return_info else codes


def _encode_settings(caller, mode, positive, normalize, fixed_point, threshold, tol, max_iter, warm,
                     solver) -> dict:
    """The settings dict of the patch encoders, refusing what does not apply to ``mode``."""
    settings: dict = {"mode": mode, "positive": bool(positive), "normalize": bool(normalize)}
    allowed = _RATE_KEYS if mode == "rate" else _SPIKING_KEYS if mode == "spiking" else ()
    unknown = sorted(set(solver) - set(allowed))
    if unknown:
        other = "spiking" if mode == "rate" else "rate"
        raise TypeError(f"{caller}() got settings that do not apply to mode={mode!r}: "
                        f"{', '.join(unknown)} (a mode={other!r} setting or a misspelling)")
    settings.update({k: v for k, v in solver.items() if v is not None})
    if mode == "rate":
        if fixed_point:
            raise _invalid_setting("fixed_point applies to mode='spiking' only", "fixed_point")
        settings.update(threshold=threshold, tol=tol, max_iter=max_iter)
    elif mode == "spiking":
        if threshold != "soft":
            raise _invalid_setting("mode='spiking' solves the LASSO: threshold must be 'soft'", "threshold")
        for name, given in (("tol", tol is not None), ("max_iter", max_iter is not None), ("init", warm)):
            if given:
                raise _invalid_setting("tol, max_iter and init apply to mode='rate' only", name)
        settings["fixed_point"] = bool(fixed_point)
    return {k: v for k, v in settings.items() if v is not None}


def sparse_encode_file(
    X,
    dictionary,
    output,
    alpha: float = DEFAULTS["alpha"],
    *,
    positive: bool = False,
    mode: str = "rate",
    fixed_point: bool = False,
    threshold: str = "soft",
    tol: Optional[float] = None,
    max_iter: Optional[int] = None,
    n_jobs: Optional[int] = None,
    normalize: bool = False,
    init=None,
    save_states=None,
    spikes=None,
    block_rows: Optional[int] = None,
    **solver,
) -> dict:
    """Sparse codes of every row of an ``.npy`` file, written to a file in blocks.

    ``lca encode`` as a function: rows are read, encoded and written a block
    at a time, so memory stays bounded whatever the number of rows, and the
    codes are those of :func:`sparse_encode` on the whole array (bit for bit,
    any block size, any thread count). Outputs are written to temporary
    files renamed into place when complete: an interrupted or failed call
    leaves no partial file.

    Parameters
    ----------
    X : str or os.PathLike
        ``.npy`` file of signals, shape (n_samples, n_features), float32 or
        float64.
    dictionary : array-like of shape (n_atoms, n_features), str or os.PathLike
        Atoms, or an ``.npy`` file of them; rows must have unit L2 norm
        (within 1e-3) unless ``normalize=True``.
    output : str or os.PathLike
        Codes, shape (n_samples, n_atoms): dense float32 ``.npy``, or a
        scipy CSR matrix (``scipy.sparse.load_npz``) when it ends in ``.npz``.
    alpha : float
        The L1 penalty, as for :func:`sparse_encode`.
    positive, mode, fixed_point, threshold, tol, max_iter, normalize, **solver
        As for :func:`sparse_encode`.
    n_jobs : int, optional
        Threads (None or -1: all cores). Results do not depend on it.
    init : str or os.PathLike, optional
        Rate mode: ``.npy`` of warm-start membrane states, shape
        (n_samples, n_atoms) (e.g. an earlier call's ``save_states``).
    save_states : str or os.PathLike, optional
        Rate mode: write the final membrane states to this ``.npy``.
    spikes : str or os.PathLike, optional
        Spiking mode: write every spike (signal, neuron, step) to this ``.npz``.
    block_rows : int, optional
        Rows per block, a positive multiple of ``DEFAULTS["signal_chunk"]``
        (default: what fits 64 MiB, at most 65536). Results do not depend on it.

    Returns
    -------
    summary : dict
        ``n_signals``, ``n_atoms``, ``mean_energy`` (mean LASSO objective),
        ``mean_active``, ``seconds``, ``normalized``; rate: ``iterations``,
        ``jumps`` (per signal), ``unconverged``; spiking:
        ``spikes_per_signal``, ``saturated``, ``time_steps``.

    Raises
    ------
    InvalidSettingError
        A setting out of range, or files of the wrong kind (``.setting``
        names the argument).
    InvalidInputError
        Signals or states of the wrong shape, NaN or Inf in a file.
    OSError
        A file that cannot be read or written.

    See Also
    --------
    sparse_encode : The same codes of an array in memory.

    Examples
    --------
    >>> import os, tempfile, numpy as np, lca
    >>> d = tempfile.mkdtemp()
    >>> np.save(os.path.join(d, "X.npy"), np.array([[1.0, 0.05, -0.5, 0.0]]))
    >>> out = os.path.join(d, "codes.npy")
    >>> lca.sparse_encode_file(os.path.join(d, "X.npy"), np.eye(4), out, alpha=0.1)["n_signals"]
    1
    >>> np.load(out).round(3)
    array([[ 0.9,  0. , -0.4,  0. ]], dtype=float32)
    """
    if isinstance(dictionary, (str, os.PathLike)):
        dictionary = np.load(dictionary)
    D = _matrix(dictionary, "dictionary")
    settings = _encode_settings("sparse_encode_file", mode, positive, normalize, fixed_point, threshold, tol,
                                max_iter, init is not None, solver)
    if mode == "rate":
        if spikes is not None:
            raise _invalid_setting("spikes applies to mode='spiking' only", "spikes")
        settings.update(init=init, save_states=save_states)
    elif save_states is not None:
        raise _invalid_setting("save_states applies to mode='rate' only", "save_states")
    else:
        settings["spikes"] = spikes
    settings["block_rows"] = block_rows
    settings = {k: os.fspath(v) if isinstance(v, os.PathLike) else v
                for k, v in settings.items() if v is not None}
    return dict(_lca.encode_file(os.fspath(X), D, os.fspath(output), float(alpha), settings, _n_jobs(n_jobs)))


def lasso_objective(X, dictionary, codes, alpha: float) -> np.ndarray:
    """Per-sample LASSO objective ``1/2||x - D^T a||^2 + alpha||a||_1``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals.
    dictionary : array-like of shape (n_atoms, n_features)
        Atoms (normalised to unit norm before use).
    codes : array-like or sparse matrix of shape (n_samples, n_atoms)
        Codes, e.g. from :func:`sparse_encode`.
    alpha : float
        The L1 penalty.

    Returns
    -------
    ndarray of shape (n_samples,)
        float64 objective of each sample, computed by the engine.
    """
    if hasattr(codes, "toarray"):
        codes = codes.toarray()
    return _lca.lasso_objectives(_matrix(X, "X"), _matrix(dictionary, "dictionary"),
                                 _matrix(codes, "codes"), float(alpha))


def _image(image) -> np.ndarray:
    img = np.ascontiguousarray(image, dtype=np.float32)
    if img.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, 3), got {img.shape}")
    return img


def extract_patches(image, patch_size: int, *, stride: Optional[int] = None, normalize: bool = False,
                    remove_mean: bool = True, unit_norm: bool = True, min_norm: float = 0.1,
                    return_positions: bool = False):
    """All ``patch_size x patch_size`` patches of an image on a regular grid.

    The grid has a step of ``stride``, the last row and column flush with the
    borders so every pixel is covered, as ``lca reconstruct`` tiles.

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, 3)
        Gray or RGB image, values in [0, 1].
    patch_size : int
        Side of the square patches.
    stride : int, optional
        Grid step (default: half the patch).
    normalize : bool, default=False
        Prepare each patch as ``lca learn`` does: mean removed
        (``remove_mean``) and scaled to unit norm (``unit_norm``); flat patches
        (norm < ``min_norm``) are left unscaled.
    remove_mean, unit_norm : bool, default=True
        The two steps of ``normalize``.
    min_norm : float, default=0.1
        Patches of smaller norm are not scaled.
    return_positions : bool, default=False
        Also return the (x, y) top-left corners.

    Returns
    -------
    patches : ndarray of shape (n_patches, patch_size**2 * channels)
        float32, flattened like
        ``sklearn.feature_extraction.image.extract_patches_2d(...).reshape(n, -1)``.
    positions : ndarray of shape (n_patches, 2)
        Only with ``return_positions=True``.
    """
    stride = max(1, patch_size // 2) if stride is None else int(stride)
    norm = dict(remove_mean=remove_mean, unit_norm=unit_norm, min_norm=min_norm) if normalize else None
    patches, positions = _lca.extract_patches(_image(image), int(patch_size), stride, norm)
    return (patches, positions) if return_positions else patches


def reconstruct_image(image, dictionary, alpha: float = DEFAULTS["alpha"], *, patch_size: Optional[int] = None,
                      stride: Optional[int] = None, whiten: str = "none", remove_mean: bool = True,
                      unit_norm: bool = True, min_norm: float = 0.1, n_jobs: Optional[int] = None,
                      return_codes: bool = False):
    """Rebuilds an image from the LASSO codes of its overlapping patches.

    ``lca reconstruct``'s pipeline: whiten, tile, normalise each patch, encode,
    ``D^T a``, undo the normalisation, average the overlaps, undo the
    whitening.

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, 3)
        Gray or RGB image, values in [0, 1].
    dictionary : array-like of shape (n_atoms, n_features)
        Atoms of ``patch_size**2 * channels`` values.
    alpha : float
        The L1 penalty of the codes (patches have unit norm when coded).
    patch_size : int, optional
        Patch side (default: inferred from the dictionary).
    stride : int, optional
        Grid step (default: half the patch).
    whiten : {"none", "one-over-f", "zca"}, default="none"
        Whitening of the image before tiling (as the learning run's).
    remove_mean, unit_norm : bool, default=True
        Patch normalisation (as :func:`extract_patches`).
    min_norm : float, default=0.1
        Patches of smaller norm are not scaled.
    n_jobs : int, optional
        Threads (None or -1: all cores).
    return_codes : bool, default=False
        Also return the codes and the PSNR.

    Returns
    -------
    reconstruction : ndarray
        float32, the shape of ``image``.
    codes : ndarray of shape (n_patches, n_atoms)
        Only with ``return_codes=True``.
    psnr : float
        PSNR of the reconstruction in dB (values in [0, 1]); only with
        ``return_codes=True``.
    """
    img = _image(image)
    D = _matrix(dictionary, "dictionary")
    channels = 1 if img.ndim == 2 else img.shape[2]
    if patch_size is None:
        side = int(round((D.shape[1] / channels) ** 0.5))
        if side * side * channels != D.shape[1]:
            raise ValueError(f"dictionary atoms have {D.shape[1]} values, not a square "
                             f"{'RGB ' if channels == 3 else ''}patch; pass patch_size")
        patch_size = side
    stride = max(1, patch_size // 2) if stride is None else int(stride)
    settings = dict(whiten=whiten, remove_mean=remove_mean, unit_norm=unit_norm, min_norm=min_norm,
                    patch_size=int(patch_size), stride=stride)
    rec, codes, psnr = _lca.reconstruct_image(img, D, float(alpha), settings, _n_jobs(n_jobs))
    return (rec, codes, psnr) if return_codes else rec


def learn_images(folder=None, output=None, *, n_components: int = DEFAULTS["n_components"],
                 patch_size: int = 8, alpha: float = DEFAULTS["alpha"], n_steps: Optional[int] = None,
                 max_seconds: Optional[float] = None, batch_size: int = DEFAULTS["batch_size"],
                 rule: str = DEFAULTS["rule"], random_state: int = 0, n_jobs: Optional[int] = None,
                 **settings):
    """Learns a dictionary from random patches of photos: ``lca learn`` from Python.

    ``learn_images(FOLDER, OUTPUT)`` is ``lca learn FOLDER --output OUTPUT``.
    Ctrl-C stops after the current step, outputs written, and raises
    KeyboardInterrupt.

    Parameters
    ----------
    folder : str or path-like, optional
        Folder of images (PNG, JPEG, TIFF, BMP); None: the embedded samples.
    output : str or path-like, optional
        Where every output of the CLI is written (``dictionary.npy``,
        ``training.csv``, ``config.json``, ``checkpoint.npz``, pictures); a
        run there can be continued with ``lca learn --resume OUTPUT``. None: a
        temporary folder, deleted afterwards.
    n_components : int
        Number of atoms.
    patch_size : int, default=8
        Patch side.
    alpha : float
        The L1 penalty of the codes.
    n_steps : int, optional
        Minibatch steps, the horizon of the learning-rate schedule: the same
        result on every machine. None (default): 2000 for 128 atoms of 8x8,
        scaled by sqrt(atoms * values / 8192) for larger problems, or, with
        ``max_seconds``, chosen by the run to fill the budget
        (``summary["time_use"]`` says how).
    max_seconds : float, optional
        Time budget in seconds of wall time, final scoring and writing
        included.
    batch_size : int
        Patches per minibatch.
    rule : {"hebbian", "online"}
        Learning rule.
    random_state : int, default=0
        Seed of every random choice.
    n_jobs : int, optional
        Threads (None or -1: all cores).
    **settings
        Other settings by their CLI names with underscores: ``alpha_final``,
        ``learning_rate``, ``learning_rate_final``, ``momentum``,
        ``resample_after``, ``heldout_patches``, ``heldout_every``, ``color``,
        ``downscale``, ``whiten`` (``"none"``, ``"one-over-f"``, ``"zca"``),
        ``remove_mean``, ``unit_norm``, ``min_norm``, ``recursive``, ``init``
        (a path), ``checkpoint_every``.

    Returns
    -------
    dictionary : ndarray of shape (n_components, n_features)
        float32 atoms.
    log : dict of ndarray
        The training log (the columns of ``training.csv``).
    summary : dict
        The run's summary (``status``, ``steps``, ...).
    """
    s = dict(settings, n_components=n_components, patch_size=patch_size, alpha=alpha, n_steps=n_steps,
             max_seconds=max_seconds, batch_size=batch_size, rule=rule, random_state=random_state)
    if "init" in s and s["init"] is not None:
        s["init"] = os.fspath(s["init"])
    s = {k: v for k, v in s.items() if v is not None}
    folder = None if folder is None else os.fspath(folder)
    if output is None:
        with tempfile.TemporaryDirectory(prefix="lca-learn-") as tmp:
            d, log, summary = _lca.learn_images(folder, os.path.join(tmp, "run"), s, _n_jobs(n_jobs))
            summary = dict(summary, output=None)
    else:
        d, log, summary = _lca.learn_images(folder, os.fspath(output), s, _n_jobs(n_jobs))
    return d, dict(log), dict(summary)


_CONV_RATE_KEYS = ("firm_width",)
_CONV_SPIKING_KEYS = ("dt", "spike_threshold", "settle", "fixed_point", "weight_synapses")


def _float_array(values, name: str) -> np.ndarray:
    """``values`` as a float32/float64 array."""
    arr = np.asarray(values)
    if arr.dtype not in (np.float32, np.float64):
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
        arr = arr.astype(np.float32)
    return arr


def _conv_dims(filters, signals, dims) -> int:
    """The spatial axes of a convolutional problem: ``dims`` (1, 2 or 3) checked against
    both shapes, or inferred by the library where the shapes leave one reading (what was
    2-D before 1-D and 3-D existed still is)."""
    return _lca.conv_dims(list(np.asarray(filters).shape), list(np.asarray(signals).shape), dims)


def _conv_filters(filters, dims: int = 2) -> np.ndarray:
    """Filters with an explicit channel axis, (n_filters, channels, k...): 2-D
    (n_filters, k, k) and 3-D (n_filters, kd, kh, kw) are one channel; 1-D filters
    are always (n_filters, channels, k)."""
    arr = _float_array(filters, "filters")
    if dims == 2:
        if arr.ndim == 3:
            arr = arr[:, None]
        if arr.ndim != 4:
            raise ValueError(f"filters: expected shape (n_filters, channels, k, k) or (n_filters, k, k), got {arr.shape}")
        return arr
    if dims == 3 and arr.ndim == 4:
        arr = arr[:, None]
    if arr.ndim != dims + 2:
        raise ValueError(f"filters: {dims}-D filters have shape "
                         f"{'(n_filters, channels, k)' if dims == 1 else '(n_filters, [channels,] kd, kh, kw)'}, "
                         f"got {arr.shape}")
    return arr


def _conv_images(images, channels: int, name: str = "images", dims: int = 2) -> np.ndarray:
    """Signals as an (n, C, ...) float array. 2-D: (H, W) is one gray image, (n, H, W) a
    stack of gray images (for 1-channel filters). 1-D: (C, T) or (n, C, T); 3-D:
    (C, D, H, W) or (n, C, D, H, W)."""
    arr = _float_array(images, name)
    if dims != 2:
        if arr.ndim == dims + 1:
            arr = arr[None]
        if arr.ndim != dims + 2:
            layouts = "(C, T) or (n, C, T)" if dims == 1 else "(C, D, H, W) or (n, C, D, H, W)"
            raise ValueError(f"{name}: {dims}-D signals have shape {layouts}, got {arr.shape}")
        return arr
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        if channels != 1:
            raise ValueError(f"{name}: a 3-D array is a stack (n, H, W) of gray images, but the filters have "
                             f"{channels} channels; pass (n, {channels}, H, W) (one image: images[None])")
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ValueError(f"{name}: expected shape (n, C, H, W), (n, H, W) or (H, W), got {arr.shape}")
    return arr


def conv_encode(
    images,
    filters,
    alpha: float = DEFAULTS["conv_alpha"],
    *,
    boundary: str = "circular",
    positive: bool = False,
    mode: str = "rate",
    threshold: str = "soft",
    tol: Optional[float] = None,
    max_iter: Optional[int] = None,
    time_steps: Optional[int] = None,
    normalize: bool = False,
    n_jobs: Optional[int] = None,
    return_info: bool = False,
    dims: Optional[int] = None,
    **solver,
):
    """Convolutional sparse codes of whole images (and of 1-D signals and 3-D volumes).

    Maps ``A`` minimising ``1/2 ||x - sum_m D_m * A_m||^2 + alpha ||A||_1``
    (``lca encode`` with a convolutional dictionary, the same codes bit for
    bit). Reconstruct with :func:`conv_reconstruct`. Ctrl-C stops before the
    next image and raises KeyboardInterrupt.

    Parameters
    ----------
    images : array-like of shape (n, C, H, W), (n, H, W) or (H, W)
        Images (float32 or float64); (n, H, W) is a stack of gray images,
        (H, W) one gray image. Each image at least k x k pixels. 1-D signals
        are (n, C, T) or (C, T); 3-D volumes or videos (n, C, D, H, W) or
        (C, D, H, W).
    filters : array-like of shape (n_filters, C, k, k) or (n_filters, k, k)
        PyTorch's conv-weight layout (a ``torch.nn.Conv2d(C, n_filters,
        k).weight``; kernels need not be square). 1-D: (n_filters, C, k)
        (``Conv1d``); 3-D: (n_filters, C, kd, kh, kw) or (n_filters, kd, kh,
        kw) (``Conv3d``). Every filter must have unit L2 norm (within 1e-3)
        unless ``normalize=True``.
    alpha : float
        The L1 penalty (threshold level for the hard / firm thresholds).
    boundary : {"circular", "zero"}, default="circular"
        Periodic images or zeros outside; scipy's names ``"wrap"`` /
        ``"fill"`` are accepted too.
    positive : bool, default=False
        Rate mode: only non-negative codes. The spiking solver codes with one
        non-negative neuron per coefficient, so its codes are always >= 0.
    mode : {"rate", "spiking"}, default="rate"
        Convolutional LCA (the exact LASSO solution to ``tol``) or
        integrate-and-fire LCA (codes are spike rates).
    threshold : {"soft", "hard", "firm"}, default="soft"
        Rate mode: LASSO, L0 or firm thresholding (``firm_width``).
    tol : float, optional
        Rate mode: stop an image when every neuron is within ``tol * max|b|``
        of its fixed point (default ``DEFAULTS["conv_tol"]``).
    max_iter : int, optional
        Rate mode: at most this many sweeps (``DEFAULTS["conv_max_iter"]``).
    time_steps : int, optional
        Spiking mode: steps simulated (``DEFAULTS["conv_time_steps"]``).
    normalize : bool, default=False
        Rescale non-unit filters (as ``lca encode --normalize``).
    n_jobs : int, optional
        Threads (images run in parallel); results do not depend on it.
    return_info : bool, default=False
        Also return a dict: ``objective`` per image, and ``iterations``,
        ``converged`` (rate) or ``spikes`` (spiking).
    dims : {1, 2, 3}, optional
        Spatial axes of the problem. Default: inferred where the shapes leave
        one reading (a rank-5 signal is 3-D; square 2-D filters keep their
        2-D meaning); otherwise a ValueError asks for it (``(32, 12, 12)``
        filters are 2-D 12x12 or 1-D over 12 channels).
    **solver
        Rate mode: ``firm_width``; spiking mode: ``dt``, ``spike_threshold``,
        ``settle``, ``fixed_point`` (Loihi integer arithmetic) and
        ``weight_synapses`` (1 or 2).

    Returns
    -------
    codes : ndarray of shape (n, n_filters, H, W)
        float32 code maps ((n, n_filters, T) for 1-D, (n, n_filters, D, H, W)
        for 3-D).
    info : dict
        Only with ``return_info=True``.
    """
    F, X = _float_array(filters, "filters"), _float_array(images, "images")
    d = _conv_dims(F, X, dims)
    D = _conv_filters(F, d)
    X = _conv_images(X, D.shape[1], dims=d)
    allowed = _CONV_RATE_KEYS if mode == "rate" else _CONV_SPIKING_KEYS if mode == "spiking" else ()
    unknown = sorted(set(solver) - set(allowed))
    if unknown:
        raise TypeError(f"conv_encode() got settings that do not apply to mode={mode!r}: {', '.join(unknown)}")
    settings: dict = dict(solver, mode=mode, boundary=boundary, normalize=bool(normalize))
    if mode == "rate":
        if time_steps is not None:
            raise ValueError("time_steps applies to mode='spiking' only")
        settings.update(positive=bool(positive), threshold=threshold, tol=tol, max_iter=max_iter)
    elif mode == "spiking":
        if threshold != "soft" or tol is not None or max_iter is not None:
            raise ValueError("threshold, tol and max_iter apply to mode='rate' only")
        settings.update(time_steps=time_steps)
    settings = {k: v for k, v in settings.items() if v is not None}
    codes, info = _lca.conv_encode(X, D, float(alpha), settings, _n_jobs(n_jobs))
    return (codes, dict(info)) if return_info else codes


def conv_reconstruct(codes, filters, *, boundary: str = "circular", normalize: bool = False,
                     dims: Optional[int] = None) -> np.ndarray:
    """Images rebuilt from convolutional code maps.

    ``x[c] = sum_m convolve2d(A[m], D[m, c], mode='same', boundary=B)`` with
    B = ``'wrap'`` for ``boundary="circular"`` and ``'fill'`` (zeros) for
    ``"zero"``. For even k the filter's centre is the tap above and left of the
    middle, as in scipy.

    Parameters
    ----------
    codes : array-like of shape (n, n_filters, H, W) or (n_filters, H, W)
        Code maps, e.g. from :func:`conv_encode`.
    filters : array-like of shape (n_filters, C, k, k) or (n_filters, k, k)
        The filters.
    boundary : {"circular", "zero"}, default="circular"
        Edges of the images.
    normalize : bool, default=False
        Rescale non-unit filters first.
    dims : {1, 2, 3}, optional
        Spatial axes, as for :func:`conv_encode`: 1-D codes are (n, n_filters,
        T), 3-D codes (n, n_filters, D, H, W).

    Returns
    -------
    ndarray of shape (n, C, H, W)
        float32 images ((n, C, T) for 1-D, (n, C, D, H, W) for 3-D).
    """
    F, A = _float_array(filters, "filters"), _float_array(codes, "codes")
    d = _conv_dims(F, A, dims)
    D = _conv_filters(F, d)
    if A.ndim == d + 1:
        A = A[None]
    if A.ndim != d + 2:
        raise ValueError(f"codes: expected shape (n, n_filters, {'H, W' if d == 2 else 'T' if d == 1 else 'D, H, W'}), "
                         f"got {A.shape}")
    return _lca.conv_reconstruct(A, D, boundary, bool(normalize))


def conv_objective(images, filters, codes, alpha: float, *, boundary: str = "circular",
                   normalize: bool = False, dims: Optional[int] = None) -> np.ndarray:
    """Per-image convolutional LASSO objective ``1/2 ||x - sum_m D_m * A_m||^2 + alpha ||A||_1``.

    Parameters
    ----------
    images : array-like of shape (n, C, H, W), (n, H, W) or (H, W)
        Images, as for :func:`conv_encode`.
    filters : array-like of shape (n_filters, C, k, k) or (n_filters, k, k)
        The filters.
    codes : array-like of shape (n, n_filters, H, W) or (n_filters, H, W)
        Code maps.
    alpha : float
        The L1 penalty.
    boundary : {"circular", "zero"}, default="circular"
        Edges of the images.
    normalize : bool, default=False
        Rescale non-unit filters first.

    Returns
    -------
    ndarray of shape (n,)
        float64 objective of each image, computed by the engine.
    """
    F, X = _float_array(filters, "filters"), _float_array(images, "images")
    d = _conv_dims(F, X, dims)
    D = _conv_filters(F, d)
    X = _conv_images(X, D.shape[1], dims=d)
    A = np.asarray(codes)
    if A.ndim == d + 1:
        A = A[None]
    if A.dtype not in (np.float32, np.float64):
        A = A.astype(np.float32)
    return _lca.conv_objective(X, D, A, float(alpha), boundary, bool(normalize))


from ._estimators import ConvDictionaryLearning, ConvSparseCoder, DictionaryLearning, SparseCoder  # noqa: E402
from . import snn  # noqa: E402,F401

