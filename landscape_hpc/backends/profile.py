"""Cluster profiles: where and how SLURM jobs run, as a validated YAML file.

    # slurm/profiles/local.yaml
    partition: debug
    account: null
    qos: null
    time: 30            # minutes per job (one work unit per job array element)
    memory: 2G          # per job
    cores: 1            # cores per job; the worker uses one torch thread per core
    max_jobs: 64        # array elements / dask jobs running at once
    sbatch: ["--exclusive=user"]                  # extra #SBATCH lines
    setup: ["source /path/to/venv/bin/activate"]  # shell lines before the worker starts
    checkpoint_every: 60   # seconds between trajectory checkpoints
    signal_delay: 60       # seconds before the time limit at which submitit checkpoints and requeues
                           # (SLURM may signal up to 60 s early: keep time - signal_delay > 1 min)
    interface: null        # network interface of the dask scheduler (lo in tests)

A profile is named (``--profile local`` reads ``slurm/profiles/local.yaml``) or given as a path.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import ConfigError, load

PROFILES = Path(__file__).resolve().parents[2] / "slurm" / "profiles"


class ClusterProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: int = Field(default=60, ge=1, description="minutes per job")
    memory: str = "2G"
    cores: int = Field(default=1, ge=1)
    max_jobs: int = Field(default=64, ge=1)
    sbatch: list[str] = []
    setup: list[str] = []
    checkpoint_every: float = Field(default=60.0, gt=0)
    signal_delay: int = Field(default=60, ge=1, description="seconds before the time limit")
    interface: str | None = None

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)?[KMGT]B?", v, re.I):
            raise ValueError(f"expected a size such as 500M or 4G, got {v!r}")
        return v.upper().removesuffix("B")

    @property
    def memory_mb(self) -> int:
        number, unit = float(self.memory[:-1]), self.memory[-1]
        return int(number * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[unit])


def load_profile(name_or_path: str | None) -> ClusterProfile:
    """The profile named (slurm/profiles/NAME.yaml), at a path, or the defaults for None."""
    if name_or_path is None:
        return ClusterProfile()
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml"))) or "none"
        raise ConfigError(f"--profile: no profile '{name_or_path}' ({path}); named profiles: "
                          f"{known}, or give a YAML file")
    return load(ClusterProfile, path)
