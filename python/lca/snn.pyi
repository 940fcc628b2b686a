from typing import Any, Optional, Sequence

import numpy.typing as npt

from ._lca import SnnModel as Model

def train(
    X: npt.ArrayLike, y: npt.ArrayLike, *, validation: Optional[tuple[Any, Any]] = ...,
    test: Optional[tuple[Any, Any]] = ..., hidden: Sequence[int] = ..., epochs: int = ..., batch_size: int = ...,
    lr: float = ..., seed: int = ..., n_jobs: Optional[int] = ..., **settings: Any,
) -> tuple[Model, dict[str, npt.NDArray[Any]]]: ...
def load(path: Any) -> Model: ...
