"""The results store: one zarr group per sweep (layout in :mod:`.layout`)."""

from .layout import DONE, EMPTY, FAILED, PENDING, RUNNING, STATUS
from .store import Store, open_results, open_store

__all__ = ["DONE", "EMPTY", "FAILED", "PENDING", "RUNNING", "STATUS", "Store", "open_results", "open_store"]
