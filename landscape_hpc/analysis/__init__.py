"""Landscape analysis: symmetry counts, channels to infinity, duplicates and unique solutions."""

from .channels import (GLU, closest_pairs, glu_from_pair, glu_limit, glu_pair, is_channel,
                       is_channel_late, neuron_groups, pair_from_glu, update_fraction)
from .solutions import (NeuronClasses, channel_summary, cluster_solutions, count_anti_aligned,
                        has_duplicates, match_neurons, neuron_classes)
from .symmetry import G, R, R_total, T, bell, stirling2

__all__ = [
    "GLU", "closest_pairs", "glu_from_pair", "glu_limit", "glu_pair", "is_channel",
    "is_channel_late", "neuron_groups", "pair_from_glu", "update_fraction",
    "NeuronClasses", "channel_summary", "cluster_solutions", "count_anti_aligned",
    "has_duplicates", "match_neurons", "neuron_classes",
    "G", "R", "R_total", "T", "bell", "stirling2",
]
