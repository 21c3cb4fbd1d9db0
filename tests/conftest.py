import numpy as np
import pytest
import torch
from hypothesis import settings

from almo.sources.softmax import one_thread as _one_thread_block

# Property tests draw the same examples on every run and every machine: a failure seen in CI is
# the failure seen here (and no example database carries state between runs).
settings.register_profile("almo", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("almo")


@pytest.fixture
def rng():
    """A seeded numpy generator: every test is reproducible."""
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test: small problems only pay for a second thread."""
    with _one_thread_block():
        yield
