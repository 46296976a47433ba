"""What the trained networks show, measured one way.

- :mod:`chattn.analysis.stats`: seed-paired differences, Student's t, Holm's correction and the
  :class:`~chattn.analysis.stats.ComparisonTable` every chapter shows (pure functions on numbers).
"""
from .stats import ComparisonTable, compare, holm, paired_t

__all__ = ["ComparisonTable", "compare", "holm", "paired_t"]
