from typing import Any, Literal, Optional, Union, overload

import numpy as np
import numpy.typing as npt

from ._estimators import DictionaryLearning as DictionaryLearning
from ._estimators import SparseCoder as SparseCoder
from ._estimators import ConvDictionaryLearning as ConvDictionaryLearning
from ._estimators import ConvSparseCoder as ConvSparseCoder
from . import snn as snn


__version__: str
DEFAULTS: dict[str, Any]

_Array = npt.ArrayLike

def sparse_encode(
    X: _Array, dictionary: _Array, alpha: float = ..., *, positive: bool = ...,
    mode: Literal["rate", "spiking"] = ..., fixed_point: bool = ...,
    threshold: Literal["soft", "hard", "firm"] = ..., tol: Optional[float] = ..., max_iter: Optional[int] = ...,
    n_jobs: Optional[int] = ..., sparse: bool = ..., normalize: bool = ..., init: Optional[_Array] = ...,
    return_info: bool = ..., **solver: Any,
) -> Any: ...
def sparse_encode_file(
    X: Union[str, "os.PathLike[str]"], dictionary: Union[_Array, str, "os.PathLike[str]"],
    output: Union[str, "os.PathLike[str]"], alpha: float = ..., *, positive: bool = ...,
    mode: Literal["rate", "spiking"] = ..., fixed_point: bool = ...,
    threshold: Literal["soft", "hard", "firm"] = ..., tol: Optional[float] = ..., max_iter: Optional[int] = ...,
    n_jobs: Optional[int] = ..., normalize: bool = ..., init: Optional[Union[str, "os.PathLike[str]"]] = ...,
    save_states: Optional[Union[str, "os.PathLike[str]"]] = ..., spikes: Optional[Union[str, "os.PathLike[str]"]] = ...,
    block_rows: Optional[int] = ..., **solver: Any,
) -> dict[str, Any]: ...

class InvalidSettingError(ValueError):
    setting: str

class InvalidInputError(ValueError): ...

def lasso_objective(X: _Array, dictionary: _Array, codes: Any, alpha: float) -> npt.NDArray[np.float64]: ...
def extract_patches(
    image: _Array, patch_size: int, *, stride: Optional[int] = ..., normalize: bool = ..., remove_mean: bool = ...,
    unit_norm: bool = ..., min_norm: float = ..., return_positions: bool = ...,
) -> Any: ...
def reconstruct_image(
    image: _Array, dictionary: _Array, alpha: float = ..., *, patch_size: Optional[int] = ...,
    stride: Optional[int] = ..., whiten: Literal["none", "one-over-f", "zca"] = ..., remove_mean: bool = ...,
    unit_norm: bool = ..., min_norm: float = ..., n_jobs: Optional[int] = ..., return_codes: bool = ...,
) -> Any: ...
def learn_images(
    folder: Optional[Union[str, "os.PathLike[str]"]] = ..., output: Optional[Union[str, "os.PathLike[str]"]] = ...,
    *, n_components: int = ..., patch_size: int = ..., alpha: float = ..., n_steps: Optional[int] = ...,
    max_seconds: Optional[float] = ..., batch_size: int = ..., rule: Literal["hebbian", "online"] = ...,
    random_state: int = ..., n_jobs: Optional[int] = ..., **settings: Any,
) -> tuple[npt.NDArray[np.float32], dict[str, npt.NDArray[Any]], dict[str, Any]]: ...
def conv_encode(
    images: _Array, filters: _Array, alpha: float = ..., *, boundary: Literal["circular", "zero", "wrap", "fill"] = ...,
    positive: bool = ..., mode: Literal["rate", "spiking"] = ..., threshold: Literal["soft", "hard", "firm"] = ...,
    tol: Optional[float] = ..., max_iter: Optional[int] = ..., time_steps: Optional[int] = ..., normalize: bool = ...,
    n_jobs: Optional[int] = ..., return_info: bool = ..., dims: Optional[int] = ..., **solver: Any,
) -> Any: ...
def conv_reconstruct(
    codes: _Array, filters: _Array, *, boundary: Literal["circular", "zero", "wrap", "fill"] = ...,
    normalize: bool = ..., dims: Optional[int] = ...,
) -> npt.NDArray[np.float32]: ...
def conv_objective(
    images: _Array, filters: _Array, codes: _Array, alpha: float, *,
    boundary: Literal["circular", "zero", "wrap", "fill"] = ..., normalize: bool = ..., dims: Optional[int] = ...,
) -> npt.NDArray[np.float64]: ...

import os
