import numpy as np
import pytest
import torch


@pytest.fixture
def rng():
    """A seeded numpy generator: every test is reproducible."""
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
    yield
