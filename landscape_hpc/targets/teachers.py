"""Teacher networks: a :class:`~landscape_hpc.models.network.Network` and its parameters theta.

===============  =================================================================================
kind             teacher
===============  =================================================================================
``random``       an MLP with hidden ``widths``; theta drawn by :mod:`landscape_hpc.models.init` from
                 ``init`` with ``seed`` (default: every parameter, biases included, N(0, 1))
``orthonormal``  ``width`` = k neurons, w*_j = e_j (needs d >= k), readout a*_j = 1, no biases
                 (few-neurons-theory.txt eq. 4, relu-population-landscape.txt)
``explicit``     one hidden layer given by its blocks: ``w`` (k rows of d numbers), optional ``b``
                 (k), ``a`` (output_dim rows of k; default all ones), ``c`` (output_dim)
``preset``       a named explicit teacher from the papers (``PRESETS``), activation overridable
===============  =================================================================================

Teacher readouts are free parameters (part of theta), so a student of the teacher's architecture
reproduces the teacher exactly at theta = teacher theta.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

import torch
from pydantic import Field, field_validator, model_validator

from ..config import Spec
from ..models.activations import ActivationSpec
from ..models.init import InitSpec, initial_theta
from ..models.network import DTYPE, NetSpec, Network

Tensor = torch.Tensor


class RandomTeacher(Spec):
    kind: Literal["random"]
    widths: tuple[int, ...] = Field(min_length=1)
    activation: ActivationSpec = ActivationSpec(name="softplus")
    biases: bool | tuple[bool, ...] = False
    init: InitSpec = InitSpec(kind="normal")
    seed: int = 0

    @field_validator("widths", mode="before")
    @classmethod
    def _width_as_tuple(cls, v):
        return (v,) if isinstance(v, int) else v


class OrthonormalTeacher(Spec):
    kind: Literal["orthonormal"]
    width: int = Field(ge=1)
    activation: ActivationSpec


class ExplicitTeacher(Spec):
    kind: Literal["explicit"]
    w: tuple[tuple[float, ...], ...] = Field(min_length=1)
    b: tuple[float, ...] | None = None
    a: tuple[tuple[float, ...], ...] | None = None
    c: tuple[float, ...] | None = None
    activation: ActivationSpec

    @model_validator(mode="after")
    def _shapes(self) -> "ExplicitTeacher":
        k = len(self.w)
        if len({len(row) for row in self.w}) != 1:
            raise ValueError(f"w: expected k rows of d numbers each, got row lengths "
                             f"{[len(row) for row in self.w]}")
        if self.b is not None and len(self.b) != k:
            raise ValueError(f"b: expected {k} numbers (one per row of w), got {len(self.b)}")
        if self.a is not None and any(len(row) != k for row in self.a):
            raise ValueError(f"a: expected output_dim rows of {k} numbers (one per row of w), "
                             f"got row lengths {[len(row) for row in self.a]}")
        if self.c is not None and self.a is not None and len(self.c) != len(self.a):
            raise ValueError(f"c: expected {len(self.a)} numbers (one per row of a), "
                             f"got {len(self.c)}")
        return self


def _angles(degrees: tuple[float, ...]) -> tuple[tuple[float, float], ...]:
    return tuple((math.cos(math.radians(t)), math.sin(math.radians(t))) for t in degrees)


PRESETS: dict[str, ExplicitTeacher] = {
    # symmetry-induced-critical-points.txt, "Experimental details for the Figure 1 and 5": width 4,
    # unit readout, no biases; Fig. 1 says "sigmoid neurons" (Fig. 5 uses softplus + a sigmoid)
    "simsek2021_width4": ExplicitTeacher(
        kind="explicit", activation="sigmoid",
        w=((0.6, 0.5), (-0.5, 0.5), (-0.2, -0.6), (0.1, -0.6))),
    # few-neurons-theory.txt A.1: unit vectors at 0, 45, 135, 270 degrees, unit readout; the
    # activation is not named there (softplus is the paper's main smooth example)
    "few_neurons_a1": ExplicitTeacher(
        kind="explicit", activation="softplus", w=_angles((0.0, 45.0, 135.0, 270.0))),
    # channels-to-infinity.txt section 4: erf((5x + 2.5)/sqrt2) + erf((5x - 2.5)/sqrt2)
    "erf_toy": ExplicitTeacher(
        kind="explicit", activation="sigmoid2", w=((5.0,), (5.0,)), b=(2.5, -2.5)),
}


class PresetTeacher(Spec):
    kind: Literal["preset"]
    name: Literal[tuple(PRESETS)]  # type: ignore[valid-type]
    activation: ActivationSpec | None = None

    def resolve(self) -> ExplicitTeacher:
        preset = PRESETS[self.name]
        return preset if self.activation is None else preset.model_copy(
            update={"activation": self.activation})


TeacherSpec = Annotated[
    Union[RandomTeacher, OrthonormalTeacher, ExplicitTeacher, PresetTeacher],
    Field(discriminator="kind"),
]


def build_teacher(spec: TeacherSpec, input_dim: int, output_dim: int = 1) -> tuple[Network, Tensor]:
    """The teacher network for inputs of dimension ``input_dim`` and its theta (P,)."""
    if isinstance(spec, PresetTeacher):
        spec = spec.resolve()
    if isinstance(spec, RandomTeacher):
        net = Network(NetSpec(input_dim=input_dim, widths=spec.widths, output_dim=output_dim,
                              activation=spec.activation, biases=spec.biases))
        return net, initial_theta(net, spec.init, seed=spec.seed)
    if isinstance(spec, OrthonormalTeacher):
        k = spec.width
        if input_dim < k:
            raise ValueError(f"teacher.width: an orthonormal teacher of width {k} needs "
                             f"input_dim >= {k}, got {input_dim}")
        net = Network(NetSpec(input_dim=input_dim, widths=k, output_dim=output_dim,
                              activation=spec.activation))
        return net, net.pack(w=torch.eye(k, input_dim, dtype=DTYPE),
                             a=torch.ones(output_dim, k, dtype=DTYPE))
    return _explicit(spec, input_dim, output_dim)


def _explicit(spec: ExplicitTeacher, input_dim: int, output_dim: int) -> tuple[Network, Tensor]:
    w = torch.tensor(spec.w, dtype=DTYPE)
    k, d = w.shape
    if d != input_dim:
        raise ValueError(f"teacher.w: rows have {d} numbers, input_dim is {input_dim}")
    a = (torch.ones(output_dim, k, dtype=DTYPE) if spec.a is None
         else torch.tensor(spec.a, dtype=DTYPE))
    if a.shape[0] != output_dim:
        raise ValueError(f"teacher.a: has {a.shape[0]} rows, output_dim is {output_dim}")
    if spec.c is not None and len(spec.c) != output_dim:
        raise ValueError(f"teacher.c: has {len(spec.c)} numbers, output_dim is {output_dim}")
    blocks = {"w": w, "a": a}
    if spec.b is not None:
        blocks["b"] = torch.tensor(spec.b, dtype=DTYPE)
    if spec.c is not None:
        blocks["c"] = torch.tensor(spec.c, dtype=DTYPE)
    net = Network(NetSpec(input_dim=d, widths=k, output_dim=output_dim, activation=spec.activation,
                          biases=(spec.b is not None, spec.c is not None)))
    return net, net.pack(**blocks)
