"""A landscape problem: network, target, inputs, loss and initialiser, as one validated spec.

In YAML (the ``problem`` of a sweep task)::

    net:    {input_dim: 2, widths: [4], activation: g, biases: false}
    target: {kind: rosenbrock}
    inputs: {kind: grid, n: 10000}
    loss:   {convention: mean, maxnorm: 1000}
    init:   {kind: glorot_normal}

``inputs: {kind: population}`` (with a teacher target) selects the infinite-data loss over
standard Gaussian inputs; a ``dataset`` target brings its own inputs and takes none.
:func:`build_problem` turns the spec into an :class:`~.models.objective.Objective`; the task seed
draws theta_0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import field_validator

from .config import Spec
from .models.init import InitSpec, initial_theta
from .models.loss import EmpiricalLoss
from .models.network import NetSpec, Network
from .models.objective import LossSpec, Objective
from .models.population import PopulationLoss
from .targets import InputSpec, TargetSpec, make_data, parse_inputs, teacher_network

Tensor = torch.Tensor


class ProblemSpec(Spec):
    net: NetSpec
    target: TargetSpec
    inputs: InputSpec | None = None
    loss: LossSpec = LossSpec()
    init: InitSpec = InitSpec()
    quadrature: int = 0  # Gauss-Hermite order of the population loss; 0 = its default

    @field_validator("inputs", mode="before")
    @classmethod
    def _parse_inputs(cls, v):
        return None if v is None else parse_inputs(v)

    @property
    def population(self) -> bool:
        return self.inputs is not None and self.inputs.kind == "population"


@dataclass
class Problem:
    """The built problem: its objective, network, data (None for population losses)."""

    spec: ProblemSpec
    net: Network
    objective: Objective
    x: Tensor | None
    y: Tensor | None

    def initial_theta(self, seed: int, batch: int | None = None) -> Tensor:
        return initial_theta(self.net, self.spec.init, seed, batch)


def build_problem(spec: ProblemSpec | dict) -> Problem:
    """Network, data and objective of a problem spec (ValueError naming the field if unbuildable)."""
    if not isinstance(spec, ProblemSpec):
        spec = ProblemSpec.model_validate(spec)
    net = Network(spec.net)
    if spec.population:
        teacher, theta_t = teacher_network(spec.target, net.input_dim, net.output_dim)
        kwargs = {"quadrature": spec.quadrature} if spec.quadrature else {}
        obj = PopulationLoss(net, teacher, theta_t, spec.loss, **kwargs)
        return Problem(spec, net, obj, None, None)
    x, y = make_data(spec.target, spec.inputs, net.input_dim, net.output_dim)
    return Problem(spec, net, EmpiricalLoss(net, x, y, spec.loss), x, y)
