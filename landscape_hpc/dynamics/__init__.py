"""Trajectories: gradient flow, GD, Adam, SGD, Newton polish, stopping rules, records.

The names are loaded on first use (PEP 562), so that the store, which takes its schema from
:mod:`.record`, does not import the engine.
"""

from importlib import import_module

_WHERE = {"Run": "engine", "integrate": "engine", "TrajectoryRecord": "record",
          "TrajectoryState": "record", "STOP_REASONS": "record", "POLISH_REASONS": "record",
          "Stop": "record", "Polish": "record", "DynamicsSpec": "spec", "PolishSpec": "spec",
          "SnapshotSpec": "spec", "StopSpec": "spec"}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
