"""The xarray layer: results on the sweep's axes, loss levels, outcome classes and fractions::

    from landscape_hpc.aggregate import open_results, loss_histogram, convergence_fractions
    ds = open_results("runs/q.zarr")                  # dims: width, ..., seed, param, snapshot
    loss_histogram(ds, by=["width"])                  # count (width, level), level values
    convergence_fractions(ds, by=["width"])           # count, fraction, lower, upper (Wilson 95%)
    convergence_fractions(ds, by=["teacher_width", "width"])  # dim group: combinations with tasks
"""

from .dataset import open_results, results_by_axes
from .fractions import convergence_fractions, loss_histogram, wilson_interval
from .levels import Levels, cluster, level_table, quantise
from .outcomes import CLASSES, ZERO_LOSS, classify, lowest_threshold
from .stops import converged

__all__ = ["CLASSES", "ZERO_LOSS", "Levels", "classify", "cluster", "converged",
           "convergence_fractions", "level_table", "loss_histogram", "lowest_threshold",
           "open_results", "quantise", "results_by_axes", "wilson_interval"]
