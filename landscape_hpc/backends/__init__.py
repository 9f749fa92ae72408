"""Execution backends: where work units run (see :mod:`.base` for the interface).

=============  ==================================================================================
``local``      local processes (the default)
``dask-local`` a dask LocalCluster on 127.0.0.1
``dask-slurm`` a dask-jobqueue SLURMCluster from a cluster profile; blocks while it feeds units
``submitit``   one SLURM job array per submission from a cluster profile; ``submit`` returns at once
=============  ==================================================================================
"""

from __future__ import annotations

from .base import Backend

NAMES = ("local", "dask-local", "dask-slurm", "submitit")


def make_backend(name: str, workers: int | None = None, checkpoint_every: float = 60.0,
                 profile: str | None = None) -> Backend:
    """A backend by name; the SLURM ones read the cluster profile (name or YAML path)."""
    if name == "local":
        from .local import LocalBackend

        return LocalBackend(workers, checkpoint_every)
    if name == "dask-local":
        from .dask import DaskBackend

        return DaskBackend(workers, checkpoint_every)
    from .profile import load_profile

    if name == "dask-slurm":
        from .dask_slurm import DaskSlurmBackend

        return DaskSlurmBackend(load_profile(profile))
    if name == "submitit":
        from .submitit_slurm import SubmititBackend

        return SubmititBackend(load_profile(profile))
    raise ValueError(f"--backend: expected one of {', '.join(NAMES)}, got '{name}'")
