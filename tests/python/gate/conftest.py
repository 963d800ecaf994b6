"""Fixtures for the perf gate tests (ci/perfgate). Fast and seeded: no load, no servers."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "ci") not in sys.path:
    sys.path.insert(0, str(ROOT / "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


@pytest.fixture
def paired():
    """paired(rng, n, ratio, sd): base samples around 10 and candidate = base * ratio, each
    with independent log-normal noise of `sd` (the per-trial noise)."""
    def make(rng, n, ratio, sd):
        common = 10 * np.exp(rng.normal(0, 0.05, n))          # drift shared by a pair
        base = common * np.exp(rng.normal(0, sd, n))
        cand = common * ratio * np.exp(rng.normal(0, sd, n))
        return list(base), list(cand)
    return make
