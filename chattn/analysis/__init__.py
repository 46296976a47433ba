"""What the trained networks show, measured one way.

- :mod:`chattn.analysis.stats`: seed-paired differences, Student's t, Holm's correction and the
  :class:`~chattn.analysis.stats.ComparisonTable` every chapter shows (pure functions on numbers).
- :mod:`chattn.analysis.trained`: the grid, the capacity controls and the sweeps as such tables;
  the sweeps summarised and drawn for the book's column; the epoch count E of each task chosen
  from the plain network's curve (:func:`~chattn.analysis.trained.choose_epochs`).
- :mod:`chattn.analysis.gates`: what the gates of a trained network do, block by block (read
  through ``chattn.base.record_gates``), and the small measurements the chapters share.

Example::

    >>> from chattn import analysis
    >>> table = analysis.compare_grid("recoloured")
    >>> table.reference.label, len(table.rows)
    ('plain', 12)
"""
from .trained import (COLUMN_INCHES, CurvePoint, Doubling, EpochChoice, SweepPoint, choose_epochs, compare_control,
                      compare_grid, compare_sweep, curve, curve_table, describe_grid, describe_sweep, reference_value,
                      sweep, sweep_figure, sweep_plot, sweep_table)
from .gates import (AttentionCall, BlockGates, GateStatistics, attention_calls, attention_inputs, block_label,
                    class_means, class_specificity, descriptors, gate_statistics, n_params, nearest_mean_accuracy)
from .stats import ComparisonTable, PairedComparison, compare, holm, paired_t

__all__ = ["ComparisonTable", "PairedComparison", "compare", "holm", "paired_t",
           "compare_grid", "compare_control", "compare_sweep", "reference_value", "SweepPoint", "sweep",
           "sweep_plot", "sweep_figure", "sweep_table", "describe_sweep", "describe_grid", "COLUMN_INCHES",
           "CurvePoint", "Doubling", "EpochChoice", "curve", "curve_table", "choose_epochs",
           "n_params", "block_label", "AttentionCall", "attention_calls", "attention_inputs", "class_means",
           "class_specificity", "nearest_mean_accuracy", "descriptors", "BlockGates", "GateStatistics",
           "gate_statistics"]
