from typing import Any, Optional, Sequence

import numpy as np
import numpy.typing as npt

from ._lca import EventDataset as EventDataset
from ._lca import SnnModel as Model

_Split = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]

def recipe(dataset: str = ...) -> dict[str, Any]: ...
def load_dataset(name: str) -> tuple[_Split, Optional[_Split], _Split]: ...
def train(
    X: Any, y: Optional[npt.ArrayLike] = ..., *, validation: Optional[tuple[Any, Any]] = ...,
    test: Optional[Any] = ..., dataset: Optional[str] = ..., hidden: Optional[Sequence[int]] = ...,
    epochs: Optional[int] = ..., batch_size: Optional[int] = ..., lr: Optional[float] = ..., seed: int = ...,
    n_jobs: Optional[int] = ..., **settings: Any,
) -> tuple[Model, dict[str, npt.NDArray[Any]]]: ...
def load(path: Any) -> Model: ...
def to_nir(model: Model) -> Any: ...
def from_nir(graph: Any, dataset: str = ..., events: Optional[EventDataset] = ...) -> Model: ...
def load_shd(path: Any, n_classes: Optional[int] = ...) -> EventDataset: ...
def from_tonic(
    dataset: Any, sensor_size: Optional[Sequence[int]] = ..., n_classes: Optional[int] = ...,
    duration: Optional[float] = ...,
) -> EventDataset: ...
def spiking_lca_to_nir(
    dictionary: npt.ArrayLike, alpha: float = ..., *, positive: bool = ..., fixed_point: bool = ...,
    normalize: bool = ..., **solver: Any,
) -> Any: ...
