"""Canonical task configs and content-addressed task ids.

A task config ``{problem, dynamics, seed}`` (plus ``initial`` for tasks started from a store) is
brought to its canonical form by

1. validating ``problem`` with :class:`~landscape_hpc.problem.ProblemSpec`, ``dynamics`` with
   :class:`~landscape_hpc.dynamics.spec.DynamicsSpec` (and ``initial`` with
   :class:`~.spec.InitialSpec`): types are coerced (``1000`` and ``1.0e3`` for a float, ``"1e-3"``
   and ``0.001``, ``widths: 3`` and ``widths: [3]``, ``activation: relu`` and
   ``{name: relu}`` become the same);
2. writing equivalent spellings one way: activation parameters equal to their default are dropped
   (``{name: softplus, beta: 1}`` is ``softplus``), per-layer ``biases`` or ``fixed_readout``
   lists whose entries are all equal become one value;
3. dumping with pydantic's ``exclude_defaults``: a setting equal to its default is left out,
   whether it was written or not;
4. writing numbers with integral values as integers (``1000.0`` as ``1000``), tuples as lists.

Canonical JSON is ``json.dumps(config, sort_keys=True, separators=(",", ":"))`` (``Infinity`` and
``NaN`` as Python writes them).  The **task id** is the first 16 hex digits (64 bits) of the SHA-256
of the canonical JSON of the whole task config, seed included.  Because ``"seed"`` sorts last,
that JSON is the seedless JSON with ``,"seed":N}`` in place of its closing brace: the planner
canonicalises each group of tasks that differ only in the seed once and derives every seed's id
from it (:func:`task_ids`), which :func:`task_id` recomputes from a single config.

Consequence of leaving defaults out: a new setting added later with a default keeps every old
id, but changing the *value* of an existing default changes what old ids compute; treat that as
a breaking change (a new id scheme).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..dynamics.spec import DynamicsSpec
from ..models.activations import PARAMETERS
from ..problem import ProblemSpec
from .spec import InitialSpec

ID_HEX = 16
_ACTIVATION_KEYS = {"name", "slope", "beta", "alpha", "gamma"}


def plain(value: Any) -> Any:
    """JSON-ready data: tuples as lists, integral floats (|x| < 2^53) as ints."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _spellings(value: Any) -> Any:
    """Step 2 of the module docstring, applied throughout a full (defaults included) dump."""
    if isinstance(value, Mapping):
        out = {k: _spellings(v) for k, v in value.items()}
        if set(out) <= _ACTIVATION_KEYS and out.get("name") in PARAMETERS:
            defaults = PARAMETERS[out["name"]]
            out = {k: v for k, v in out.items()
                   if k == "name" or (v is not None and v != defaults.get(k))}
        for key in ("biases", "fixed_readout"):
            flags = out.get(key)
            if isinstance(flags, (list, tuple)) and flags and all(f == flags[0] for f in flags):
                out[key] = flags[0]
        return out
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
        return [_spellings(v) for v in value]
    return value  # numbers, strings, and lists of them (weights, data rows) stay as they are


def canonical_part(model: type, data: Mapping) -> dict:
    """Canonical form of one part (problem, dynamics or initial) of a task config."""
    first = model.model_validate(data)
    again = model.model_validate(_spellings(first.model_dump()))
    return plain(again.model_dump(exclude_defaults=True))


def canonical(problem: Mapping | ProblemSpec, dynamics: Mapping | DynamicsSpec | None = None,
              initial: Mapping | InitialSpec | None = None) -> dict:
    """The canonical seedless config (raises pydantic.ValidationError on bad input)."""
    def raw(x):
        return x.model_dump() if hasattr(x, "model_dump") else (x or {})
    out = {"problem": canonical_part(ProblemSpec, raw(problem)),
           "dynamics": canonical_part(DynamicsSpec, raw(dynamics))}
    if initial is not None:
        out["initial"] = canonical_part(InitialSpec, raw(initial))
    return out


def canonical_json(config: Mapping) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def digest(text: str) -> str:
    """SHA-256 hex digest of a canonical JSON string."""
    return hashlib.sha256(text.encode()).hexdigest()


def task_ids(seedless_json: str, seeds: Iterable[int]) -> list[str]:
    """Ids of the tasks ``seedless config + seed`` for each seed (see the module docstring)."""
    head = seedless_json[:-1] + ',"seed":'
    sha = hashlib.sha256
    return [sha(f"{head}{int(s)}}}".encode()).hexdigest()[:ID_HEX] for s in seeds]


def task_id(config: Mapping) -> str:
    """The id of one task config ``{problem, dynamics, seed[, initial]}``."""
    extra = set(config) - {"problem", "dynamics", "seed", "initial"}
    if extra or "seed" not in config:
        raise ValueError(f"a task config has keys problem, dynamics, seed (and initial), got "
                         f"{sorted(config)}")
    full = {**canonical(config["problem"], config.get("dynamics"), config.get("initial")),
            "seed": check_seed(config["seed"])}
    return digest(canonical_json(full))[:ID_HEX]


def check_seed(seed: Any) -> int:
    """A seed as an int in [0, 2^63); ValueError otherwise (integral floats are accepted)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, float)) or seed != int(seed) \
            or not 0 <= seed < 2**63:
        raise ValueError(f"expected an integer in [0, 2^63), got {seed!r}")
    return int(seed)
