"""The results store: one zarr group per sweep (layout in :mod:`.layout`, attrs in :mod:`.meta`)."""

from .layout import DONE, EMPTY, FAILED, PENDING, RERUN, RUNNING, STATUS
from .meta import ArrayPart, StoreMeta, Submission
from .store import Store, open_results, open_store

__all__ = ["DONE", "EMPTY", "FAILED", "PENDING", "RERUN", "RUNNING", "STATUS", "ArrayPart",
           "Store", "StoreMeta", "Submission", "open_results", "open_store"]
