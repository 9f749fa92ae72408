"""Training data: input points and the targets evaluated on them.

A target is a :data:`TargetSpec`, discriminated by ``kind``::

    {kind: teacher, teacher: {kind: orthonormal, width: 4, activation: relu}}  # see .teachers
    {kind: rosenbrock, zscore: true, a: 1.0, b: 3.0, c: 1.0, offset: 0.1}     # eq. 8, d >= 2
    {kind: gp, scale: 0.5, seed: 0, zscore: true, jitter: 1.0e-8}            # Matern-3/2 eq. 9
    {kind: erf_toy}                                                          # d = 1, out = 1
    {kind: dataset, file: relu_like_e1.yaml}   or   {kind: dataset, x: [[...]], y: [[...]]}

and :func:`make_data` evaluates it on the inputs of an :data:`~.inputs.InputSpec`.  A dataset
brings its own inputs, so it takes ``inputs=None``.  The population inputs (infinite data) have no
samples: for them a population loss uses :func:`teacher_network` instead.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import torch
from pydantic import BaseModel, Field, TypeAdapter, model_validator

from ..config import Spec
from ..models.network import Network
from . import datasets, functions
from .inputs import InputSpec, make_inputs, parse_inputs
from .teachers import PresetTeacher, TeacherSpec, build_teacher

Tensor = torch.Tensor

__all__ = ["TargetSpec", "InputSpec", "make_data", "make_inputs", "teacher_network",
           "parse_target", "parse_inputs"]


class TeacherTarget(Spec):
    kind: Literal["teacher"]
    teacher: TeacherSpec


class RosenbrockTarget(Spec):
    kind: Literal["rosenbrock"]
    zscore: bool = True
    a: float = 1.0
    b: float = 3.0
    c: float = 1.0
    offset: float = 0.1


class GPTarget(Spec):
    kind: Literal["gp"]
    scale: float = Field(gt=0)
    seed: int = 0
    zscore: bool = True
    jitter: float = Field(default=functions.GP_JITTER, ge=0)


class ErfToyTarget(Spec):
    kind: Literal["erf_toy"]


class DatasetTarget(Spec):
    """A file (see :mod:`.datasets`) or inline rows ``x`` and ``y``; exactly one of the two."""

    kind: Literal["dataset"]
    file: str | None = None
    x: tuple[tuple[float, ...], ...] | None = None
    y: tuple[tuple[float, ...], ...] | tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetTarget":
        has_x, has_y = self.x is not None, self.y is not None
        if (self.file is not None) == (has_x or has_y) or has_x != has_y:
            raise ValueError("dataset: give either 'file' or both 'x' and 'y'")
        if self.file is None:
            datasets.from_rows(self.x, self.y, "target (inline dataset)")
        return self

    def load(self) -> tuple[Tensor, Tensor]:
        if self.file is not None:
            return datasets.load_dataset(self.file)
        return datasets.from_rows(self.x, self.y, "target (inline dataset)")


TargetSpec = Annotated[
    Union[TeacherTarget, RosenbrockTarget, GPTarget, ErfToyTarget, DatasetTarget],
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter = TypeAdapter(TargetSpec)


def parse_target(data) -> TargetSpec:
    """A TargetSpec from a mapping (as read from YAML) or a spec."""
    return data if isinstance(data, BaseModel) else _ADAPTER.validate_python(data)


def teacher_network(target, input_dim: int, output_dim: int = 1) -> tuple[Network, Tensor]:
    """(network, theta) of a teacher target; the erf toy target is the preset ``erf_toy``."""
    target = parse_target(target)
    if isinstance(target, ErfToyTarget):
        return build_teacher(PresetTeacher(kind="preset", name="erf_toy"), input_dim, output_dim)
    if not isinstance(target, TeacherTarget):
        raise ValueError(f"target kind '{target.kind}' has no teacher network; "
                         "accepted: teacher, erf_toy")
    return build_teacher(target.teacher, input_dim, output_dim)


def make_data(target, inputs, input_dim: int, output_dim: int = 1) -> tuple[Tensor, Tensor]:
    """(x (N, input_dim), y (N, output_dim)), float64, for a target on the given inputs."""
    target = parse_target(target)
    if isinstance(target, DatasetTarget):
        if inputs is not None:
            raise ValueError("inputs: a dataset target supplies its own inputs; "
                             "give no inputs (inputs=None) with target kind 'dataset'")
        x, y = target.load()
        if (x.shape[1], y.shape[1]) != (input_dim, output_dim):
            raise ValueError(f"target (dataset): has input_dim {x.shape[1]} and output_dim "
                             f"{y.shape[1]}, expected {input_dim} and {output_dim}")
        return x, y
    if inputs is None:
        raise ValueError(f"inputs: target kind '{target.kind}' needs inputs; none given")
    x = make_inputs(parse_inputs(inputs), input_dim)
    if isinstance(target, TeacherTarget):
        net, theta = build_teacher(target.teacher, input_dim, output_dim)
        return x, net(theta, x)
    if isinstance(target, GPTarget):
        y = functions.gp_sample(x, target.scale, target.seed, output_dim, target.jitter)
        return x, functions.zscore(y) if target.zscore else y
    if output_dim != 1:
        raise ValueError(f"output_dim: target kind '{target.kind}' is scalar, got {output_dim}")
    if isinstance(target, ErfToyTarget):
        return x, functions.erf_toy(x).unsqueeze(1)
    y = functions.rosenbrock(x, target.a, target.b, target.c, target.offset).unsqueeze(1)
    return x, functions.zscore(y) if target.zscore else y
