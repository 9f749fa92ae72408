"""Landscape analysis: symmetry counts, channels to infinity and the jump along them, duplicates
and unique solutions, the inertia along neuron-splitting lines (few-neurons-theory Thm. 4.1),
stationarity of ReLU-like networks, order-parameter dynamics of soft committee machines (from
:mod:`landscape_hpc.models.soft_committee`).  Whole
stores: :mod:`.store`."""

from .channels import (GLU, closest_pairs, glu_from_pair, glu_limit, glu_pair, is_channel,
                       is_channel_late, layer_channels, layer_distances, neuron_groups,
                       pair_from_glu, update_fraction)
from .jump import Jump, jump_along_channel, with_pair
from ..models.soft_committee import OverlapTrajectory, SoftCommittee, kernel_slopes, overlaps
from .relu_like import (NeuronDerivatives, ReluStationarity, balance, dead_neurons,
                        neuron_derivatives, perturbation_changes, plot_loss_changes,
                        relu_stationarity, replicate_unit, small_living_neurons,
                        tangent_directions, tangential)
from .solutions import (NeuronClasses, channel_summary, cluster_solutions, count_anti_aligned,
                        has_duplicates, match_neurons, neuron_classes)
from .splitting import hessian_inertia, split_block, split_line_inertia, split_matrices
from .symmetry import G, R, R_total, T, bell, stirling2

__all__ = [
    "GLU", "closest_pairs", "glu_from_pair", "glu_limit", "glu_pair", "is_channel",
    "is_channel_late", "layer_channels", "layer_distances", "neuron_groups", "pair_from_glu",
    "update_fraction",
    "NeuronClasses", "channel_summary", "cluster_solutions", "count_anti_aligned",
    "has_duplicates", "match_neurons", "neuron_classes",
    "hessian_inertia", "split_block", "split_line_inertia", "split_matrices",
    "G", "R", "R_total", "T", "bell", "stirling2",
    "Jump", "jump_along_channel", "with_pair",
    "OverlapTrajectory", "SoftCommittee", "kernel_slopes", "overlaps",
    "NeuronDerivatives", "ReluStationarity", "balance", "dead_neurons", "neuron_derivatives",
    "perturbation_changes", "plot_loss_changes", "relu_stationarity", "replicate_unit",
    "small_living_neurons", "tangent_directions", "tangential",
]
