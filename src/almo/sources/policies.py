"""Data policies: what each generation trains on.

At generation t ≥ 1 the simulator draws k_t true samples from P* and n_t − k_t synthetic samples
from the previous model P̂_{t−1}; the policy decides how many are true and what the learner
keeps:

=========================  ===================================================================
``replace``                k_t ~ Binomial(n_t, α_t): n_t i.i.d. draws from α_t P* + (1−α_t) P̂_{t−1};
                           train on them alone (contamination-agnostic: labels are not used).
``fixed``                  exactly k_t = round(α_t n_t) true draws (fixed composition).
``accumulate``             as ``replace``, but all data of all generations are kept and used.
``accumulate-subsample``   all data kept; train on n_t of them drawn without replacement.
``real-only``              k_t ~ Binomial(n_t, α_t) true draws, train on those alone (the
                           synthetic part is discarded; with k_t = 0 the model is kept).
``real-aggregate``         train on all true data seen so far (generation 0 included).
=========================  ===================================================================

Examples
--------
>>> POLICIES[:2]
('replace', 'fixed')
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np

from almo._validation import fail

__all__ = ["POLICIES", "Policy", "check_policy", "true_counts", "uses_synthetic"]

Policy = Literal[
    "replace", "fixed", "accumulate", "accumulate-subsample", "real-only", "real-aggregate"
]
POLICIES: tuple[str, ...] = get_args(Policy)


def check_policy(policy: str) -> str:
    """Return ``policy`` after checking it names a data policy.

    Examples
    --------
    >>> check_policy("accumulate")
    'accumulate'
    """
    if policy not in POLICIES:
        raise fail("policy", f"be one of {list(POLICIES)}", policy, "pass e.g. policy='replace'")
    return policy


def uses_synthetic(policy: str) -> bool:
    """Whether the policy trains on synthetic samples at all.

    Examples
    --------
    >>> uses_synthetic("real-only"), uses_synthetic("replace")
    (False, True)
    """
    return policy not in ("real-only", "real-aggregate")


def true_counts(
    policy: str, n: int, alpha: float, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """Number of true draws per replicate: round(α n) for ``fixed``, else Binomial(n, α).

    Examples
    --------
    >>> true_counts("fixed", 10, 0.25, 3, np.random.default_rng(0)).tolist()
    [2, 2, 2]
    """
    if policy == "fixed":
        return np.full(replicates, int(np.rint(alpha * n)), dtype=np.int64)
    return rng.binomial(int(n), float(alpha), size=replicates).astype(np.int64)


def next_training_data(
    policy: str, fresh_true: Any, fresh_synthetic: Any, pool: Any, n: int, rng: np.random.Generator
) -> tuple[Any, Any]:
    """The training data of this generation and the pool to carry to the next one.

    ``pool`` is the data kept from earlier generations (all data for the accumulate policies,
    the true data for ``real-aggregate``, unused otherwise).
    """
    if policy in ("replace", "fixed"):
        return fresh_true.join(fresh_synthetic), pool
    if policy == "accumulate":
        pool = pool.join(fresh_true.join(fresh_synthetic))
        return pool, pool
    if policy == "accumulate-subsample":
        pool = pool.join(fresh_true.join(fresh_synthetic))
        return pool.subsample(np.int64(n), rng), pool
    if policy == "real-only":
        return fresh_true, pool
    pool = pool.join(fresh_true)
    return pool, pool
