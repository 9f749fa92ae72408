"""Bad sweep files: one clear message naming file, key and accepted form; exit 2; nothing written."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from landscape_hpc.cli import app

BASE = """\
fixed:
  problem:
    net: {input_dim: 2, activation: g}
    target: {kind: rosenbrock}
    inputs: {kind: grid, n: 100}
"""

CASES = {
    # unknown keys
    "unknown_top_level_key": (BASE + "grdi: {width: [1]}\n",
                              ["grdi", "Extra inputs are not permitted",
                               "accepted keys: name, description, fixed, grid"]),
    "unknown_nested_key": (BASE + "    los: {maxnorm: 3}\ngrid: {width: [1], seed: [0]}\n",
                           ["problem.los", "accepted keys: net, target, inputs, loss",
                            "from fixed.problem.los"]),
    "unknown_axis": (BASE + "grid: {widht: [1], seed: [0]}\n",
                     ["grid.widht", "unknown setting 'widht'", "aliases width, widths"]),
    "unknown_key_in_profile": (BASE + "grid: {width: [1], seed: [0]}\n"
                               "profiles: {smoke: {gird: {}}}\n",
                               ["profiles.smoke.gird", "accepted keys: description, fixed, grid"]),
    # wrong types
    "wrong_type_in_axis": (BASE + "grid: {width: [1, two], seed: [0]}\n",
                           ["width=\"two\"", "problem.net.widths", "valid tuple",
                            "from grid.width"]),
    "axis_not_a_list": (BASE + "grid: {width: 3, seed: [0]}\n",
                        ["grid.width", "expected a list of values", "{range: STOP",
                         "belongs under 'fixed'"]),
    "seed_not_an_integer": (BASE + "grid: {width: [1], seed: [0.5]}\n",
                            ["grid.seed", "expected an integer in [0, 2^63), got 0.5"]),
    "range_bound_not_integer": (BASE + "grid: {width: [1], seed: {range: 2.5}}\n",
                                ["grid.seed.range", "integers or expressions"]),
    "expression_type_error": (BASE + "grid: {width: [1], seed: {range: \"width + 'a'\"}}\n",
                              ["grid.seed", "TypeError", "task settings: width=1"]),
    "not_a_mapping": ("- just\n- a list\n", ["expected a mapping with keys name"]),
    # empty grids
    "empty_axis": (BASE + "grid: {width: [], seed: [0]}\n",
                   ["grid.width", "empty list", "at least one value"]),
    "empty_grid": (BASE + "  seed: 0\ngrid: {}\n", ["grid", "no axes"]),
    "empty_range": (BASE + "grid: {width: [1], seed: {range: [5, 5]}}\n",
                    ["grid.seed.range", "empty range"]),
    "everything_excluded": (BASE + "grid: {width: [1], seed: [0]}\nexclude: [{width: 1}]\n",
                            ["no tasks", "every combination"]),
    "zip_lengths_differ": (BASE + "grid: {p: {zip: {width: [1, 2], n: [4]}}, seed: [0]}\n",
                           ["grid.p.zip", "different lengths (width: 2, n: 1)", "equal length"]),
    # an axis given twice
    "duplicate_yaml_key": (BASE + "grid:\n  width: [1]\n  width: [2]\n  seed: [0]\n",
                           ["line 8", "key 'width' given twice", "give each key once"]),
    "alias_and_path": (BASE + "grid:\n  width: [1]\n  problem.net.widths: [[2]]\n  seed: [0]\n",
                       ["grid.problem.net.widths", "already set by axis grid.width"]),
    "axis_and_fixed": (BASE + "grid: {n: [4, 9], width: [1], seed: [0]}\n",
                       ["grid.n", "also set by fixed.problem.inputs.n",
                        "give each setting once (fixed or an axis)"]),
    "fixed_twice": (BASE + "  n: 4\ngrid: {width: [1], seed: [0]}\n",
                    ["fixed.n", "already set by fixed.problem.inputs.n"]),
    "seed_twice": (BASE + "  seed: 3\ngrid: {width: [1], seed: [0]}\n",
                   ["grid.seed", "also set by fixed.seed"]),
    # values out of range
    "width_zero": (BASE + "grid: {width: [0, 1], seed: [0]}\n",
                   ["width=0", "problem.net.widths", "every width must be >= 1"]),
    "negative_seed": (BASE + "grid: {width: [1], seed: [-1]}\n",
                      ["grid.seed", "[0, 2^63), got -1"]),
    "negative_tolerance": (BASE + "  dynamics: {reltol: -1}\ngrid: {width: [1], seed: [0]}\n",
                           ["dynamics.reltol", "greater than 0", "from fixed.dynamics.reltol"]),
    "grid_not_a_power": (BASE.replace("n: 100", "n: 99") + "grid: {width: [1], seed: [0]}\n",
                         ["cannot be built", "inputs.n", "n = m**2",
                          "(from fixed.problem.inputs.n)"]),
    "teacher_too_wide": ("""\
fixed:
  problem:
    net: {input_dim: 2, widths: [1], activation: relu}
    target: {kind: teacher, teacher: {kind: orthonormal, activation: relu}}
    inputs: {kind: population}
grid: {teacher_width: [2, 3], seed: [0]}
""", ["teacher_width=3", "cannot be built", "needs input_dim >= 3", "(from grid.teacher_width)"]),
    "unknown_kind": (BASE.replace("rosenbrock", "rosenbrok") + "grid: {width: [1], seed: [0]}\n",
                     ["problem.target", "expected tags: 'teacher', 'rosenbrock'"]),
    "explicit_init_wrong_length": (BASE + "    init: {kind: explicit, theta: [1, 2]}\n"
                                   "grid: {width: [1], seed: [0]}\n",
                                   ["cannot be built", "init.theta has 2 numbers",
                                    "the network has 3 parameters"]),
    "unit_size_zero": (BASE + "grid: {width: [1], seed: [0]}\nunits: {size: 0}\n",
                       ["units.size", "greater than or equal to 1"]),
    # references
    "missing_data_file": ("""\
fixed:
  problem: {net: {input_dim: 2, widths: [3]}, target: {kind: dataset, file: nope.yaml}}
grid: {seed: [0]}
""", ["dataset file 'nope.yaml' not found", "(from fixed.problem.target.file)"]),
    "missing_store": ("from_store: {store: runs/none.zarr}\ngrid: {seed: [0]}\n",
                      ["from_store.store", "source store 'runs/none.zarr' not found",
                       "path of an existing store"]),
    "unknown_reference": (BASE + "grid: {width: [1], seed: {range: \"50 * 2**widht\"}}\n",
                          ["grid.seed", "unknown setting 'widht'"]),
    "reference_to_later_axis": (BASE + "grid:\n  maxnorm: {expr: \"width * 10\"}\n"
                                "  width: [1]\n  seed: [0]\n",
                                ["grid.maxnorm", "refers to 'width'", "listed after it"]),
    "reference_to_seed": (BASE + "grid: {width: {expr: seed}, seed: [0]}\n",
                          ["grid.width", "refers to the seed", "varies innermost"]),
    "no_seed": (BASE + "grid: {width: [1]}\n",
                ["seed", "no seed given", "grid: {seed: {range: 10}}"]),
    "exclude_not_an_axis": (BASE + "grid: {width: [1], seed: [0]}\nexclude: [{biases: true}]\n",
                            ["exclude[0].biases", "not an axis of this sweep"]),
    "disallowed_expression": (BASE + "grid: {width: {expr: \"__import__('os')\"}, seed: [0]}\n",
                              ["grid.width.expr", "calls only min, max"]),
    "initial_without_store": (BASE + "grid: {width: [1], initial.perturb.scale: [1], "
                              "seed: [0]}\n", ["initial", "only in sweeps that start from a store"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_sweep_file(tmp_path, monkeypatch, case):
    text, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{case}.yaml"
    path.write_text(textwrap.dedent(text))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(app, ["plan", str(path), "--json"])
    message = "".join(result.stderr.split())  # the terminal may wrap the message anywhere
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert message.startswith("".join(f"error: {path}: ".split())), result.stderr
    for part in expected:
        assert "".join(part.split()) in message, f"{part!r} not in {result.stderr!r}"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_missing_file_and_unknown_profile(tmp_path):
    result = CliRunner().invoke(app, ["plan", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2 and "none.yaml: no such file" in " ".join(result.stderr.split())
    path = tmp_path / "s.yaml"
    path.write_text(BASE + "grid: {width: [1], seed: [0]}\nprofiles: {smoke: {}}\n")
    result = CliRunner().invoke(app, ["plan", str(path), "--scale", "tiny"])
    assert result.exit_code == 2
    assert "profile 'tiny' not found; profiles in this file: smoke" in " ".join(
        result.stderr.split())
