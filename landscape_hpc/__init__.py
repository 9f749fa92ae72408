"""landscape-hpc: gradient-flow sweeps over neural-network loss landscapes."""

from ._version import __version__

__all__ = ["__version__", "open_results", "open_store"]


def open_results(path):
    """The results of a store as a lazy ``xarray.Dataset`` with the sweep's axes (and seed) as
    dimensions (see :func:`.aggregate.open_results`; :func:`.store.open_results` is the raw view
    along ``task``)."""
    from .aggregate import open_results as _open

    return _open(path)


def open_store(path, mode: str = "r"):
    """An open results store (see :class:`.store.Store`)."""
    from .store import open_store as _open

    return _open(path, mode)
