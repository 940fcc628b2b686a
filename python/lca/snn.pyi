from typing import Any, Optional, Sequence

import numpy as np
import numpy.typing as npt

from ._lca import SnnModel as Model

_Split = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]

def recipe(dataset: str = ...) -> dict[str, Any]: ...
def load_dataset(name: str) -> tuple[_Split, Optional[_Split], _Split]: ...
def train(
    X: npt.ArrayLike, y: npt.ArrayLike, *, validation: Optional[tuple[Any, Any]] = ...,
    test: Optional[tuple[Any, Any]] = ..., dataset: str = ..., hidden: Optional[Sequence[int]] = ...,
    epochs: Optional[int] = ..., batch_size: Optional[int] = ..., lr: Optional[float] = ..., seed: int = ...,
    n_jobs: Optional[int] = ..., **settings: Any,
) -> tuple[Model, dict[str, npt.NDArray[Any]]]: ...
def load(path: Any) -> Model: ...
