"""Make the repository root importable without Django or an installed package."""

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def blocks() -> sp.csr_matrix:
    """Two taste clusters: users 0-19 like items 0-9, users 20-39 like items 10-19.

    Each user has a random 5 of their cluster's 10 items, so every model has something
    left to recommend and the right answer is "the rest of my block".
    """
    rng = np.random.default_rng(0)
    rows, cols = [], []
    for u in range(40):
        base = 0 if u < 20 else 10
        for item in rng.choice(10, size=5, replace=False):
            rows.append(u)
            cols.append(base + int(item))
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(40, 20))


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too so this folder runs standalone (-p no:django, no pyproject).
    config.addinivalue_line("markers", "slow: benchmarks and long runs")
