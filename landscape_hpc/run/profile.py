"""Cluster profiles: where and how SLURM jobs run, as a validated YAML file.

    # local.yaml
    partition: debug
    account: null
    qos: null
    time: 30            # minutes: the SLURM time limit of each job
    job_length: null    # minutes of work a job packs before it requeues itself (default: time)
    memory: 2G          # per job
    cores: 1            # cores per job; the worker uses one torch thread per core
    max_jobs: 64        # jobs running at once (and at most this many packed jobs per submission)
    max_array_size: null  # cap on array indices (default: the cluster's MaxArraySize)
    sbatch: ["--exclusive=user"]                  # extra #SBATCH lines
    setup: ["source /path/to/venv/bin/activate"]  # shell lines before the worker starts
    checkpoint_every: 60   # seconds between trajectory checkpoints
    signal_delay: 60       # seconds before the time limit at which submitit checkpoints and requeues
                           # (SLURM may signal up to 60 s early: keep time - signal_delay > 1 min)
    interface: null        # network interface of the dask scheduler (lo in tests)

``--profile NAME`` finds ``NAME.yaml`` in the first of: the directories of
``$LANDSCAPE_HPC_PROFILES`` (``:``-separated), the user's ``$XDG_CONFIG_HOME/landscape-hpc/profiles``
(default ``~/.config/landscape-hpc/profiles``), and the examples shipped in the package
(``local``, ``example-cluster``); ``--profile path/to/file.yaml`` reads that file.  Profiles are
package data, so a non-editable install finds the shipped ones too.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from pydantic import Field, field_validator

from ..config import ConfigError, Spec, load

ENV = "LANDSCAPE_HPC_PROFILES"


class ClusterProfile(Spec):
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: int = Field(default=60, ge=1, description="minutes per job")
    job_length: int | None = Field(default=None, ge=1, description="minutes of work per job")
    memory: str = "2G"
    cores: int = Field(default=1, ge=1)
    max_jobs: int = Field(default=64, ge=1)
    max_array_size: int | None = Field(default=None, ge=2)
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

    @property
    def walltime(self) -> str:
        """The time limit as SLURM writes it, HH:MM:00."""
        return f"{self.time // 60:02d}:{self.time % 60:02d}:00"

    @property
    def directives(self) -> list[str]:
        """Extra ``#SBATCH`` options: the qos and the profile's ``sbatch`` lines."""
        return ([f"--qos={self.qos}"] if self.qos else []) + list(self.sbatch)

    @property
    def directive_map(self) -> dict[str, str | bool]:
        """:attr:`directives` as option -> value (flags: True), as submitit takes them."""
        out: dict[str, str | bool] = {}
        for line in self.directives:
            key, _, value = line.lstrip("-").partition("=")
            out[key.replace("-", "_")] = value or True
        return out

    @property
    def budget(self) -> float:
        """Seconds of work a packed job takes on: its job length, less the signal delay."""
        return max(60.0, 60.0 * min(self.job_length or self.time, self.time) - self.signal_delay)


def search_path() -> list[Path]:
    """Directories searched for named profiles, first match wins."""
    dirs = [Path(d) for d in os.environ.get(ENV, "").split(os.pathsep) if d]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    dirs.append(config / "landscape-hpc" / "profiles")
    dirs.append(Path(str(resources.files(__package__) / "profiles")))
    return dirs


def find_profile(name: str) -> Path:
    """The file of the profile ``name`` (ConfigError listing the known names if none)."""
    dirs = search_path()
    for d in dirs:
        if (d / f"{name}.yaml").is_file():
            return d / f"{name}.yaml"
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(f"--profile: no profile '{name}' in {', '.join(map(str, dirs))}; named "
                      f"profiles: {', '.join(known) or 'none'}, or give a YAML file")


def load_profile(name_or_path: str | None) -> ClusterProfile:
    """The profile named, at a path (a name with a .yaml/.yml suffix or a /), or the defaults."""
    if name_or_path is None:
        return ClusterProfile()
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not path.is_file():
            raise ConfigError(f"--profile: no such file {path}")
        return load(ClusterProfile, path)
    return load(ClusterProfile, find_profile(name_or_path))
