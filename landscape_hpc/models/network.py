"""Multilayer perceptrons f(x; theta) with all parameters in one flat float64 vector theta.

Layout of theta (row-major blocks, in this order)::

    w1 (n1, d), b1 (n1), w2 (n2, n1), b2 (n2), ..., a (out, nL), c (out)

``b_l`` is present only where ``biases[l]`` is on, ``c`` only where the readout bias is on, and
``a`` only where the readout is free (a fixed readout, the soft committee machine, keeps ``a`` in
the network, not in theta).  For one hidden layer ``w``/``b`` are aliases of ``w1``/``b1``, so the
papers' theta = (w, b, a, c) reads directly: ``net.view(theta, "w")`` has shape (width, d).

Every function accepts theta of shape (P,) or (B, P); a leading batch dimension is carried through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate

import torch
from pydantic import Field, field_validator, model_validator

from ..config import Spec
from .activations import Activation, ActivationSpec

Tensor = torch.Tensor
DTYPE = torch.float64


@dataclass(frozen=True)
class Block:
    name: str
    shape: tuple[int, ...]
    start: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def stop(self) -> int:
        return self.start + self.size


class NetSpec(Spec):
    """Architecture: input dimension, hidden widths, output dimension, activation, biases, readout.

    ``biases`` is one flag for all layers or one per layer (hidden layers, then the readout).
    ``fixed_readout`` fixes the readout weights ``a`` (a number broadcast to all, or the full
    (out, nL) values row-major); they are then not part of theta.
    """

    input_dim: int = Field(ge=1)
    widths: tuple[int, ...] = Field(min_length=1)
    output_dim: int = Field(default=1, ge=1)
    activation: ActivationSpec = ActivationSpec(name="softplus")
    biases: bool | tuple[bool, ...] = False
    fixed_readout: float | tuple[float, ...] | None = None

    @field_validator("widths", mode="before")
    @classmethod
    def _width_as_tuple(cls, v):
        return (v,) if isinstance(v, int) else v

    @field_validator("widths")
    @classmethod
    def _positive_widths(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(n < 1 for n in v):
            raise ValueError(f"every width must be >= 1, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _check_lengths(self) -> "NetSpec":
        if isinstance(self.biases, tuple) and len(self.biases) != len(self.widths) + 1:
            raise ValueError(
                f"biases: give one flag, or {len(self.widths) + 1} flags (one per hidden layer and "
                f"one for the readout), got {len(self.biases)}")
        ro = self.fixed_readout
        n = self.output_dim * self.widths[-1]
        if isinstance(ro, tuple) and len(ro) != n:
            raise ValueError(f"fixed_readout: give one number or {n} = output_dim * last width "
                             f"numbers, got {len(ro)}")
        return self

    @property
    def bias_flags(self) -> tuple[bool, ...]:
        b = self.biases
        return b if isinstance(b, tuple) else (b,) * (len(self.widths) + 1)

    def blocks(self) -> list[Block]:
        """The blocks of theta, in the layout of the module docstring."""
        dims = (self.input_dim, *self.widths)
        flags = self.bias_flags
        shapes: list[tuple[str, tuple[int, ...]]] = []
        for layer in range(1, len(dims)):
            shapes.append((f"w{layer}", (dims[layer], dims[layer - 1])))
            if flags[layer - 1]:
                shapes.append((f"b{layer}", (dims[layer],)))
        if self.fixed_readout is None:
            shapes.append(("a", (self.output_dim, dims[-1])))
        if flags[-1]:
            shapes.append(("c", (self.output_dim,)))
        starts = accumulate((math.prod(shape) for _, shape in shapes), initial=0)
        return [Block(name, shape, start) for (name, shape), start in zip(shapes, starts)]

    @property
    def num_params(self) -> int:
        """P, the length of theta."""
        return self.blocks()[-1].stop


class Network:
    """An MLP with a flat parameter vector; see the module docstring for the layout."""

    def __init__(self, spec: NetSpec):
        self.spec = spec
        self.activation: Activation = spec.activation.build()
        dims = (spec.input_dim, *spec.widths)
        blocks = spec.blocks()
        self.blocks = {b.name: b for b in blocks}
        self.num_params = blocks[-1].stop
        if spec.fixed_readout is None:
            self.fixed_a = None
        else:
            ro = spec.fixed_readout
            vals = [ro] * (spec.output_dim * dims[-1]) if isinstance(ro, float) else list(ro)
            self.fixed_a = torch.tensor(vals, dtype=DTYPE).reshape(spec.output_dim, dims[-1])

    # ---- layout -------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.spec.widths)

    @property
    def input_dim(self) -> int:
        return self.spec.input_dim

    @property
    def output_dim(self) -> int:
        return self.spec.output_dim

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(self.blocks)

    def _key(self, name: str) -> str:
        return name + "1" if name in ("w", "b") and self.depth == 1 else name

    def _block(self, name: str) -> Block:
        block = self.blocks.get(self._key(name))
        if block is None:
            raise KeyError(f"no parameter block '{self._key(name)}'; this network has "
                           f"{', '.join(self.blocks)}")
        return block

    def has(self, name: str) -> bool:
        return self._key(name) in self.blocks

    def slice(self, name: str) -> slice:
        b = self._block(name)
        return slice(b.start, b.stop)

    def view(self, theta: Tensor, name: str) -> Tensor:
        """The block ``name`` of theta (a view), shaped (..., *block shape)."""
        b = self._block(name)
        return theta[..., b.start:b.stop].reshape(*theta.shape[:-1], *b.shape)

    def readout(self, theta: Tensor) -> Tensor:
        """Readout weights a, shape (..., out, nL): from theta, or the fixed ones."""
        if self.fixed_a is not None:
            return self.fixed_a.expand(*theta.shape[:-1], *self.fixed_a.shape)
        return self.view(theta, "a")

    def pack(self, **blocks: Tensor) -> Tensor:
        """theta from named blocks (every block of the layout must be given)."""
        missing = set(self.blocks) - set(blocks)
        if self.depth == 1:
            missing -= {k + "1" for k in ("w", "b") if k in blocks}
        if missing:
            raise KeyError(f"missing parameter blocks: {', '.join(sorted(missing))}")
        parts = []
        for name, blk in self.blocks.items():
            key = name if name in blocks else name[0]
            v = torch.as_tensor(blocks[key], dtype=DTYPE)
            parts.append(v.reshape(*v.shape[: v.dim() - len(blk.shape)], blk.size))
        return torch.cat(parts, dim=-1)

    # ---- function -----------------------------------------------------------------------------
    def hidden(self, theta: Tensor, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Pre- and post-activations (z_l, h_l) of every hidden layer, each (..., N, n_l)."""
        h = x
        out = []
        for layer in range(1, self.depth + 1):
            z = h @ self.view(theta, f"w{layer}").transpose(-1, -2)
            if self.has(f"b{layer}"):
                z = z + self.view(theta, f"b{layer}").unsqueeze(-2)
            h = self.activation(z)
            out.append((z, h))
        return out

    def __call__(self, theta: Tensor, x: Tensor) -> Tensor:
        """f(x; theta), shape (..., N, out) for inputs x of shape (N, d)."""
        h = self.hidden(theta, x)[-1][1]
        y = h @ self.readout(theta).transpose(-1, -2)
        if self.has("c"):
            y = y + self.view(theta, "c").unsqueeze(-2)
        return y

    def __repr__(self) -> str:
        s = self.spec
        return (f"Network(d={s.input_dim}, widths={list(s.widths)}, out={s.output_dim}, "
                f"activation={s.activation}, biases={list(s.bias_flags)}, "
                f"fixed_readout={s.fixed_readout is not None}, P={self.num_params})")
