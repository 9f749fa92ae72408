"""Trajectories: gradient flow, GD, Adam, SGD, Newton polish, stopping rules, records."""

from .engine import Run, integrate
from .record import POLISH_REASONS, STOP_REASONS, TrajectoryRecord, TrajectoryState
from .spec import DynamicsSpec, PolishSpec, SnapshotSpec, StopSpec

__all__ = ["Run", "integrate", "TrajectoryRecord", "TrajectoryState", "STOP_REASONS",
           "POLISH_REASONS", "DynamicsSpec", "PolishSpec", "SnapshotSpec", "StopSpec"]
