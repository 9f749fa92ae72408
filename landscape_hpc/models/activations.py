"""Activation functions with exact first, second and third derivatives (float64 torch).

An activation is named by an :class:`ActivationSpec`: a bare name (``"softplus"``) or a mapping
with its parameters (``{"name": "leaky_relu", "slope": 0.1}``).  ``Activation.derivatives(z, n)``
returns ``(sigma, sigma', ..., sigma^(n))`` evaluated together so that shared work (an ``exp``,
a ``sigmoid``) is done once.  At the kinks of relu and leaky_relu the derivative convention is the
right-continuous one of relu-like-stationary-points.txt: ``relu'(0) = 0``.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import torch
from pydantic import model_validator

from ..config import Spec

Tensor = torch.Tensor
Derivs = Callable[[Tensor, int, dict], tuple[Tensor, ...]]

_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_ZERO = torch.zeros((), dtype=torch.float64)

ActivationName = Literal[
    "relu", "leaky_relu", "softplus", "sigmoid", "sigmoid2", "tanh", "gelu",
    "g", "softplus_sigmoid", "exp", "identity",
]

# parameters each activation accepts, with defaults
PARAMETERS: dict[str, dict[str, float]] = {
    "relu": {},
    "leaky_relu": {"slope": 0.01},
    "softplus": {"beta": 1.0},
    "sigmoid": {},
    "sigmoid2": {},
    "tanh": {},
    "gelu": {},
    "g": {},
    "softplus_sigmoid": {"alpha": 1.0, "gamma": 4.0},
    "exp": {},
    "identity": {},
}


def _sigmoid_chain(s: Tensor, n: int, scale: float = 1.0) -> tuple[Tensor, ...]:
    """Derivatives of z -> sigmoid(scale*z) from s = sigmoid(scale*z), as polynomials in s."""
    out = [s]
    if n >= 1:
        d1 = torch.addcmul(s, s, s, value=-1.0)
        out.append(d1 if scale == 1 else d1 * scale)
    if n >= 2:
        out.append(torch.rsub(s, 1.0, alpha=2.0).mul_(d1 if scale == 1 else d1 * scale**2))
    if n >= 3:
        out.append(torch.rsub(d1, 1.0, alpha=6.0).mul_(d1 if scale == 1 else d1 * scale**3))
    return tuple(out)


def _relu(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    out = [torch.clamp_min(z, 0.0)]
    if n >= 1:
        out.append((z > 0).to(z.dtype))
    out.extend(torch.zeros_like(z) for _ in range(max(n - 1, 0)))
    return tuple(out)


def _leaky_relu(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    slope = p["slope"]
    pos = z > 0
    out = [torch.where(pos, z, slope * z)]
    if n >= 1:
        out.append(torch.where(pos, torch.ones_like(z), torch.full_like(z, slope)))
    out.extend(torch.zeros_like(z) for _ in range(max(n - 1, 0)))
    return tuple(out)


def _softplus(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    beta = p["beta"]
    zb = z if beta == 1 else beta * z
    f = torch.logaddexp(zb, _ZERO)  # = softplus, accurate for every z (no threshold)
    if beta != 1:
        f.div_(beta)
    if n == 0:
        return (f,)
    return (f,) + _sigmoid_chain(torch.sigmoid(zb), n - 1, beta)


def _sigmoid(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    return _sigmoid_chain(torch.sigmoid(z), n)


def _sigmoid2(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    out = [torch.erf(z / _SQRT_2)]
    if n >= 1:
        d1 = 2 * _INV_SQRT_2PI * torch.exp(-0.5 * z * z)
        out.append(d1)
    if n >= 2:
        out.append(-z * d1)
    if n >= 3:
        out.append((z * z - 1) * d1)
    return tuple(out)


def _tanh(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    t = torch.tanh(z)
    out = [t]
    if n >= 1:
        d1 = 1 - t * t
        out.append(d1)
    if n >= 2:
        out.append(-2 * t * d1)
    if n >= 3:
        out.append(d1 * (6 * t * t - 2))
    return tuple(out)


def _gelu(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    cdf = 0.5 * (1 + torch.erf(z / _SQRT_2))
    out = [z * cdf]
    if n >= 1:
        pdf = _INV_SQRT_2PI * torch.exp(-0.5 * z * z)
        out.append(cdf + z * pdf)
    if n >= 2:
        out.append(pdf * (2 - z * z))
    if n >= 3:
        out.append(pdf * z * (z * z - 4))
    return tuple(out)


def _softplus_sigmoid(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    """softplus(z) + alpha sigmoid(gamma z): three transcendental kernels (logaddexp and two
    sigmoids), the rest fused into as few elementwise passes as possible."""
    alpha, gamma = p["alpha"], p["gamma"]
    s4 = torch.sigmoid(gamma * z)
    f = torch.logaddexp(z, _ZERO).add_(s4, alpha=alpha)
    if n == 0:
        return (f,)
    s = torch.sigmoid(z)
    p4 = torch.addcmul(s4, s4, s4, value=-1.0)                    # sigmoid'(gamma z)
    out = [f, torch.add(s, p4, alpha=alpha * gamma)]
    if n >= 2:  # softplus'' = sigmoid', softplus''' = sigmoid''
        p1 = torch.addcmul(s, s, s, value=-1.0)                   # sigmoid'(z)
        q4 = torch.rsub(s4, 1.0, alpha=2.0).mul_(p4)              # sigmoid''(gamma z)
        out.append(torch.add(p1, q4, alpha=alpha * gamma**2))
    if n >= 3:
        c4 = torch.rsub(p4, 1.0, alpha=6.0).mul_(p4)              # sigmoid'''(gamma z)
        out.append(torch.rsub(s, 1.0, alpha=2.0).mul_(p1).add_(c4, alpha=alpha * gamma**3))
    return tuple(out)


def _g(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    return _softplus_sigmoid(z, n, {"alpha": 1.0, "gamma": 4.0})


def _exp(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    e = torch.exp(z)
    return (e,) * (n + 1)


def _identity(z: Tensor, n: int, p: dict) -> tuple[Tensor, ...]:
    out = [z]
    if n >= 1:
        out.append(torch.ones_like(z))
    out.extend(torch.zeros_like(z) for _ in range(max(n - 1, 0)))
    return tuple(out)


_IMPLEMENTATIONS: dict[str, Derivs] = {
    "relu": _relu, "leaky_relu": _leaky_relu, "softplus": _softplus, "sigmoid": _sigmoid,
    "sigmoid2": _sigmoid2, "tanh": _tanh, "gelu": _gelu, "g": _g,
    "softplus_sigmoid": _softplus_sigmoid, "exp": _exp, "identity": _identity,
}

# positively homogeneous: sigma(c z) = c sigma(z) for c > 0 (relu-like-stationary-points.txt)
HOMOGENEOUS = frozenset({"relu", "leaky_relu", "identity"})


class ActivationSpec(Spec):
    """An activation by name, with its parameters (only those the activation takes)."""

    name: ActivationName
    slope: float | None = None
    beta: float | None = None
    alpha: float | None = None
    gamma: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value):
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_params(self) -> "ActivationSpec":
        allowed = PARAMETERS[self.name]
        given = {k for k in ("slope", "beta", "alpha", "gamma") if getattr(self, k) is not None}
        extra = given - set(allowed)
        if extra:
            accepted = ", ".join(allowed) or "no parameters"
            raise ValueError(
                f"activation '{self.name}' does not take {', '.join(sorted(extra))}; "
                f"it accepts {accepted}"
            )
        if self.name == "softplus" and self.beta is not None and self.beta <= 0:
            raise ValueError("softplus beta must be > 0")
        return self

    @property
    def params(self) -> dict[str, float]:
        """All parameters, defaults filled in."""
        return {k: float(getattr(self, k) if getattr(self, k) is not None else v)
                for k, v in PARAMETERS[self.name].items()}

    def build(self) -> "Activation":
        return Activation(self.name, self.params)

    def __str__(self) -> str:
        params = self.params
        return self.name + (
            "(" + ", ".join(f"{k}={v:g}" for k, v in params.items()) + ")" if params else "")


class Activation:
    """sigma and its derivatives up to third order."""

    def __init__(self, name: str, params: dict[str, float] | None = None):
        if name not in _IMPLEMENTATIONS:
            raise ValueError(
                f"unknown activation '{name}'; accepted: {', '.join(_IMPLEMENTATIONS)}")
        self.name = name
        self.params = {**PARAMETERS[name], **(params or {})}
        self._impl = _IMPLEMENTATIONS[name]

    @property
    def homogeneous(self) -> bool:
        return self.name in HOMOGENEOUS

    def __call__(self, z: Tensor) -> Tensor:
        return self._impl(z, 0, self.params)[0]

    def derivatives(self, z: Tensor, order: int) -> tuple[Tensor, ...]:
        """(sigma(z), sigma'(z), ..., sigma^(order)(z)), order <= 3."""
        if not 0 <= order <= 3:
            raise ValueError(f"derivative order must be 0..3, got {order}")
        return self._impl(z, order, self.params)

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, {self.params})"


def get_activation(spec: str | dict | ActivationSpec | Activation) -> Activation:
    """Activation from a name, a mapping, a spec or an activation."""
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, ActivationSpec):
        spec = ActivationSpec.model_validate(spec)
    return spec.build()
