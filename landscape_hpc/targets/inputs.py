"""Input points x, shape (N, d), float64: random, grid, Sobol, explicit, or the population law.

===============  =================================================================================
kind             inputs
===============  =================================================================================
``normal``       ``n`` i.i.d. standard normal points (torch generator seeded with ``seed``)
``uniform``      ``n`` i.i.d. points uniform on the cube [-sqrt3, sqrt3]^d (unit variance per axis)
``grid``         regular grid with ``n`` points in total, m = n^(1/d) per axis (n must be a perfect
                 d-th power), both ends included, on [low, high]^d (default [-sqrt3, sqrt3]^d);
                 rows in C order: the last coordinate varies fastest.  channels-to-infinity.txt
                 uses ``{kind: grid, n: 10000}`` in d = 2 (100 x 100)
``sobol``        ``n`` points of a Sobol sequence scrambled with ``seed`` (scipy.stats.qmc); law
                 ``uniform`` maps them onto [-sqrt3, sqrt3]^d, law ``normal`` through the standard
                 normal inverse CDF (points moved to the centre of their 2^-30 cell: never 0, 1)
``explicit``     the rows of ``values``
``population``   infinite data with standard Gaussian inputs: no samples; a population loss uses it
===============  =================================================================================

Every draw is a pure function of the spec (and d), so results are bit-reproducible.
"""

from __future__ import annotations

import math
import warnings
from typing import Annotated, Literal, Union

import numpy as np
import torch
from pydantic import BaseModel, Field, TypeAdapter, model_validator
from scipy.stats import norm, qmc

from ..config import Spec
from ..models.network import DTYPE

Tensor = torch.Tensor
SQRT3 = math.sqrt(3.0)
_SOBOL_BITS = 30


class NormalInputs(Spec):
    kind: Literal["normal"]
    n: int = Field(ge=1)
    seed: int = 0


class UniformInputs(Spec):
    kind: Literal["uniform"]
    n: int = Field(ge=1)
    seed: int = 0


class GridInputs(Spec):
    kind: Literal["grid"]
    n: int = Field(ge=1, description="total number of points, a perfect d-th power")
    low: float = -SQRT3
    high: float = SQRT3

    @model_validator(mode="after")
    def _ordered(self) -> "GridInputs":
        if not self.low < self.high:
            raise ValueError(f"grid: need low < high, got low={self.low}, high={self.high}")
        return self


class SobolInputs(Spec):
    kind: Literal["sobol"]
    n: int = Field(ge=1)
    seed: int = 0
    law: Literal["uniform", "normal"] = "uniform"


class ExplicitInputs(Spec):
    kind: Literal["explicit"]
    values: tuple[tuple[float, ...], ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rectangular(self) -> "ExplicitInputs":
        lengths = {len(row) for row in self.values}
        if len(lengths) != 1 or 0 in lengths:
            raise ValueError(f"values: expected N rows of d numbers each, got row lengths "
                             f"{[len(row) for row in self.values]}")
        return self


class PopulationInputs(Spec):
    kind: Literal["population"]


InputSpec = Annotated[
    Union[NormalInputs, UniformInputs, GridInputs, SobolInputs, ExplicitInputs, PopulationInputs],
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter = TypeAdapter(InputSpec)


def parse_inputs(data) -> InputSpec:
    """An InputSpec from a mapping (as read from YAML) or a spec."""
    return data if isinstance(data, BaseModel) else _ADAPTER.validate_python(data)


def grid_points_per_axis(n: int, d: int) -> int:
    """m with m^d = n, or a ValueError naming ``inputs.n``."""
    m = round(n ** (1.0 / d))
    for k in (m - 1, m, m + 1):
        if k >= 1 and k**d == n:
            return k
    raise ValueError(f"inputs.n: a grid in d = {d} dimensions needs n = m**{d} points "
                     f"(m per axis); {n} is not of that form (nearest: {m}**{d} = {m**d})")


def make_inputs(spec, input_dim: int) -> Tensor:
    """Input points (N, input_dim) for a spec (or a mapping that validates as one)."""
    spec, d = parse_inputs(spec), int(input_dim)
    if d < 1:
        raise ValueError(f"input_dim must be >= 1, got {d}")
    if isinstance(spec, PopulationInputs):
        raise ValueError("inputs kind 'population' is infinite data (standard Gaussian inputs) "
                         "and has no samples; use it with a population loss, not make_inputs")
    if isinstance(spec, ExplicitInputs):
        x = torch.tensor(spec.values, dtype=DTYPE)
        if x.shape[1] != d:
            raise ValueError(f"inputs.values: rows have {x.shape[1]} numbers, input_dim is {d}")
        return x
    if isinstance(spec, GridInputs):
        axis = torch.linspace(spec.low, spec.high, grid_points_per_axis(spec.n, d), dtype=DTYPE)
        mesh = torch.meshgrid(*([axis] * d), indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], dim=1)
    if isinstance(spec, SobolInputs):
        return _sobol(spec, d)
    gen = torch.Generator().manual_seed(spec.seed)
    if isinstance(spec, NormalInputs):
        return torch.randn(spec.n, d, generator=gen, dtype=DTYPE)
    return (2 * torch.rand(spec.n, d, generator=gen, dtype=DTYPE) - 1) * SQRT3


def _sobol(spec: SobolInputs, d: int) -> Tensor:
    rng = np.random.default_rng(spec.seed)
    sampler = qmc.Sobol(d, scramble=True, bits=_SOBOL_BITS, seed=rng)
    with warnings.catch_warnings():  # n need not be a power of 2 (balance is best when it is)
        warnings.simplefilter("ignore", UserWarning)
        u = sampler.random(spec.n)
    if spec.law == "normal":
        x = norm.ppf(u + 2.0 ** -(_SOBOL_BITS + 1))
    else:
        x = (2 * u - 1) * SQRT3
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
