"""almo — agnostic learning with multiple objectives."""

from almo.mixtures import MixtureSet, Simplex, WorstCase

__all__ = ["MixtureSet", "Simplex", "WorstCase"]
__version__ = "0.1.0"
