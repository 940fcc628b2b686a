import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def unit_rows(a):
    a = np.asarray(a, dtype=np.float32)
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def problem():
    """A small LASSO problem: 300 signals of 16 values, 24 unit-norm atoms."""
    rng = np.random.default_rng(0)
    D = unit_rows(rng.standard_normal((24, 16)))
    codes = rng.standard_normal((300, 24)) * (rng.random((300, 24)) < 0.15)
    X = (codes @ D + 0.05 * rng.standard_normal((300, 16))).astype(np.float32)
    return X, D


@pytest.fixture(scope="session")
def lca_bin():
    """The CLI built from this checkout (LCA_BIN, target/release/lca, or on PATH)."""
    explicit = os.environ.get("LCA_BIN")
    if explicit and not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
        pytest.fail(f"LCA_BIN={explicit} is not an executable")
    cands = [explicit, str(REPO / "target" / "release" / "lca"), shutil.which("lca")]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    pytest.skip("the lca binary is not built (cargo build --release)")
