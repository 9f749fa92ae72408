"""Keep glibc's malloc from returning the derivatives' temporaries to the kernel after every call.

torch allocates CPU tensors with the C allocator.  glibc serves requests above its mmap threshold
(128 KiB, raised dynamically up to 32 MiB) with fresh ``mmap`` pages and trims the top of the heap
back to the kernel above 128 KiB-ish of free space, so the (B, r, N) arrays of the analytic
derivatives (0.1-2 MB each at N = 10^4) are page-faulted in again on every evaluation: measured
200-660 minor faults per Hessian evaluation at widths 3-5, which made an evaluation 1.3-2.9x
slower than the arithmetic (benchmarks/RESULTS.md, Trajectories).  Blocks above 32 MiB (glibc's
largest mmap threshold) are always mmapped: a batch of 32 Hessians at P = 400 is 41 MB, and its
copies (W, its LU) were faulted in every step, half the process time at relu-population
K = M = 20 (benchmarks/RESULTS.md, Engine at published scale).  :func:`tune_allocator` switches mmap off
(``mallopt``: M_MMAP_MAX 0; glibc still mmaps when the heap cannot grow) and trims the heap
only above 512 MiB of free space, so every array is recycled from the heap.  The price is that
a process keeps up to 512 MiB of freed memory.

It changes no result (only where memory comes from).  ``integrate`` calls it once; set the
environment variable ``LANDSCAPE_HPC_MALLOC=default`` to leave the allocator alone.  Non-glibc
platforms are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
TRIM_THRESHOLD = 512 << 20

_done: bool | None = None


def tune_allocator() -> bool:
    """Switch glibc's mmap off and set its trim threshold, once per process; True if set."""
    global _done
    if _done is not None:
        return _done
    _done = False
    off = os.environ.get("LANDSCAPE_HPC_MALLOC", "").lower() == "default"
    if off or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return _done
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
