"""One colour per data policy, estimator, training arm and α, the same in every figure.

Policies, estimators and arms have fixed qualitative colours (:data:`COLORS`); a value of α
maps to a colour of a sequential colour map through α itself, so α = 0.2 is the same colour in
every file whatever the other α values drawn beside it. Nothing here depends on the order in
which curves are drawn.

Examples
--------
>>> color_of("replace") == COLORS["replace"]
True
>>> alpha_color(0.2) == alpha_color(0.2), alpha_color(0.0) != alpha_color(1.0)
(True, True)
"""

from __future__ import annotations

import math

import matplotlib

from almo._validation import check_number

__all__ = ["ALPHA_CMAP", "BAND_ALPHA", "COLORS", "alpha_color", "color_of"]

#: The colour of each named curve (policies, estimators of :mod:`almo.sources.estimators`,
#: the arms of :func:`~almo.sources.simulate_minimax`).
COLORS: dict[str, str] = {
    # data policies
    "replace": "#1f77b4",
    "fixed": "#aec7e8",
    "accumulate": "#ff7f0e",
    "accumulate-subsample": "#ffbb78",
    "real-only": "#7f7f7f",
    "real-aggregate": "#2ca02c",
    # estimators that know the real samples (filtration shares the real-data policies' colours)
    "agnostic": "#1f77b4",
    "weighted": "#9467bd",
    "optimal-weighted": "#e377c2",
    "filter": "#7f7f7f",
    "filter-aggregate": "#2ca02c",
    # training arms over {true, synthetic}
    "pooled": "#1f77b4",
    "minimax": "#d62728",
    "minimax + penalty": "#8c564b",
    "hindsight": "#17becf",
}

#: Sequential colour map of α, evaluated at 0.05 + 0.85·f(α) with f(α) = log(1 + 50α)/log(51):
#: the small α that matter most (0, 0.01, 0.05, 0.2) get well-separated colours, and α = 0 and
#: α = 1 stay visible.
ALPHA_CMAP = "viridis"

#: Opacity of the ±2 standard-error bands.
BAND_ALPHA = 0.2

_FALLBACK = ("#bcbd22", "#393b79", "#8c6d31", "#843c39", "#7b4173", "#5254a3")


def alpha_color(alpha: float) -> tuple[float, float, float, float]:
    """The RGBA colour of a true-data fraction α in [0, 1] (finite values outside are clipped).

    NaN, infinities and non-numbers are refused: NaN would otherwise be drawn in the colour
    map's transparent "bad" colour.

    Examples
    --------
    >>> len(alpha_color(0.5))
    4
    """
    x = check_number("alpha", alpha, "pass the true-data fraction α in [0, 1], e.g. 0.2")
    x = min(max(x, 0.0), 1.0)
    x = math.log1p(50.0 * x) / math.log(51.0)
    return tuple(matplotlib.colormaps[ALPHA_CMAP](0.05 + 0.85 * x))  # type: ignore[return-value]


def color_of(name: str) -> str:
    """The colour of a policy, estimator or arm; a name outside :data:`COLORS` gets a stable one.

    A label such as ``"minimax + penalty (β = 2)"`` takes the colour of its longest known
    prefix.

    Examples
    --------
    >>> color_of("filter-aggregate"), color_of("minimax + penalty (β = 2)")
    ('#2ca02c', '#8c564b')
    """
    key = str(name)
    if key in COLORS:
        return COLORS[key]
    prefixes = [k for k in COLORS if key.startswith(k)]
    if prefixes:
        return COLORS[max(prefixes, key=len)]
    return _FALLBACK[sum(key.encode()) % len(_FALLBACK)]
