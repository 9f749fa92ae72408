"""config: the Spec base, the strict YAML reader and the validation messages, through ``load``."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from landscape_hpc.config import ConfigError, Spec, load
from landscape_hpc.dynamics.spec import DynamicsSpec
from landscape_hpc.problem import ProblemSpec

PROBLEM = "net: {input_dim: 2, widths: [3]}\ntarget: {kind: rosenbrock}\n"


class _Profile(Spec):
    """Shaped like a cluster profile: numbers, and free-form options kept as read."""

    checkpoint_every: float = 60.0
    options: dict[str, Any] = {}


def test_a_key_given_twice_in_a_problem_file_is_an_error(tmp_path):
    f = tmp_path / "problem.yaml"
    f.write_text(PROBLEM + "inputs: {kind: grid, n: 100}\ninputs: {kind: grid, n: 400}\n")
    with pytest.raises(ConfigError, match="key 'inputs' given twice") as err:
        load(ProblemSpec, f)
    assert str(err.value).startswith(f"{f}: line 4:") and "first on line 3" in str(err.value)


def test_exponents_without_a_dot_are_numbers(tmp_path):
    f = tmp_path / "profile.yaml"
    f.write_text("checkpoint_every: 1e-3\noptions: {tol: 1e-6, label: e10}\n")
    profile = load(_Profile, f)
    assert profile.checkpoint_every == 1e-3
    assert profile.options == {"tol": 1e-6, "label": "e10"}
    g = tmp_path / "dynamics.yaml"
    g.write_text("reltol: 1E-8\nstop: {maxT: 1e+6}\n")
    assert load(DynamicsSpec, g).stop.maxT == 1e6


def test_messages_name_the_setting_and_the_accepted_keys(tmp_path):
    f = tmp_path / "problem.yaml"
    f.write_text(PROBLEM + "loss: {maxnrom: 3}\n")
    with pytest.raises(ConfigError) as err:
        load(ProblemSpec, f)
    assert str(err.value) == (f"{f}: invalid configuration\n  loss.maxnrom: Extra inputs are not "
                              "permitted; accepted keys: convention, maxnorm")
    f.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping with keys net, target, inputs"):
        load(ProblemSpec, f)


def test_specs_are_strict_and_frozen():
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        _Profile(checkpoint_every=1, colour="red")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        _Profile().checkpoint_every = 2.0
