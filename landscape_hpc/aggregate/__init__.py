"""The xarray layer: results on the sweep's axes, loss levels, outcome classes and fractions::

    from landscape_hpc.aggregate import open_results, loss_histogram, convergence_fractions
    ds = open_results("runs/q.zarr")                  # dims: width, ..., seed, param, snapshot
    loss_histogram(ds, by=["width"])                  # count (width, level), level values
    convergence_fractions(ds, by=["width"])           # count, fraction, lower, upper (Wilson 95%)
"""

from .dataset import open_results, results_by_axes
from .fractions import convergence_fractions, loss_histogram, wilson_interval
from .levels import Levels, cluster, level_table, quantise
from .outcomes import CLASSES, classify, global_threshold
from .stops import converged

__all__ = ["CLASSES", "Levels", "classify", "cluster", "converged", "convergence_fractions",
           "global_threshold", "level_table", "loss_histogram", "open_results", "quantise",
           "results_by_axes", "wilson_interval"]
