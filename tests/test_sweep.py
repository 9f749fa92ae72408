"""Sweep files and the planner: format features, canonical ids, work units, sweeps from a store."""

from __future__ import annotations

import json
import textwrap

import pytest

from landscape_hpc.config import ConfigError
from landscape_hpc.sweep import SourceRecord, load_sweep, plan_from_records, plan_sweep, task_id
from landscape_hpc.sweep.expr import Expression, ExpressionError
from landscape_hpc.sweep.ids import canonical, task_ids

BASE = """\
fixed:
  problem:
    net: {input_dim: 2, activation: g}
    target: {kind: rosenbrock}
    inputs: {kind: grid, n: 100}
    loss: {maxnorm: 1000}
"""


def write(tmp_path, text: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def plan_text(tmp_path, text: str, profile: str | None = None, name: str = "s.yaml"):
    return plan_sweep(write(tmp_path, text, name), profile)


def ids_of(plan) -> dict[tuple, str]:
    """task id by (group settings as JSON, seed)."""
    return {(json.dumps(g.settings, sort_keys=True), s): t
            for g in plan.groups for s, t in zip(g.seeds.tolist(), g.task_ids())}


def counts(plan, key: str) -> dict:
    axis = next(a for a in plan.axes if a.key == key)
    return {k: n for k, (_, n) in axis.counts.items()}


# ---- format ---------------------------------------------------------------------------------
def test_product_of_axes_with_dependent_seed_count(tmp_path):
    plan = plan_text(tmp_path, BASE + """\
grid:
  width: [1, 2, 3]
  biases: [false, true]
  seed: {range: "50 * 2**width"}
""")
    assert plan.n_tasks == 2 * (100 + 200 + 400)
    assert len(plan.groups) == 6
    assert counts(plan, "width") == {"1": 200, "2": 400, "3": 800}
    assert counts(plan, "biases") == {"false": 700, "true": 700}
    widths = {g.config["problem"]["net"]["widths"][0]: len(g.seeds) for g in plan.groups}
    assert widths == {1: 100, 2: 200, 3: 400}
    assert plan.seed_summary() == {"min": 0, "max": 399, "per_group": [100, 400]}


def test_conditional_entries_like_onlyif(tmp_path):
    plan = plan_text(tmp_path, """\
fixed:
  problem:
    net: {input_dim: 3, widths: [1], biases: false}
    target: {kind: teacher, teacher: {kind: orthonormal, width: 3}}
    inputs: {kind: normal, n: 50}
grid:
  activation: [relu, softplus]
  teacher_activation: {expr: activation}
  inputs:
    - {value: {kind: population}, when: "activation == 'relu'"}
  seed: [0]
""")
    by_act = {g.config["problem"]["net"].get("activation", {}).get("name", "softplus"):
              g.config["problem"] for g in plan.groups}
    assert by_act["relu"]["inputs"] == {"kind": "population"}
    # no entry matches for softplus: the setting stays as fixed has it (DrWatson's @onlyif)
    assert by_act["softplus"]["inputs"] == {"kind": "normal", "n": 50}
    assert by_act["relu"]["target"]["teacher"]["activation"] == {"name": "relu"}
    assert counts(plan, "inputs") == {'{"kind": "population"}': 1, "(unset)": 1}


def test_expr_axis_and_range_with_start_and_step(tmp_path):
    plan = plan_text(tmp_path, """\
fixed:
  problem:
    net: {widths: [1], activation: relu}
    target: {kind: teacher, teacher: {kind: orthonormal, activation: relu}}
    inputs: {kind: population}
grid:
  teacher_width: {range: [2, 8, 3]}
  d: {expr: "teacher_width + 1"}
  seed: [0]
""")
    dims = sorted((g.config["problem"]["target"]["teacher"]["width"],
                   g.config["problem"]["net"]["input_dim"]) for g in plan.groups)
    assert dims == [(2, 3), (5, 6)]


def test_zipped_axes_pair_their_values(tmp_path):
    plan = plan_text(tmp_path, BASE + """\
grid:
  pair: {zip: {width: [1, 2, 3], maxtime: [10, 20, 30]}}
  seed: [0]
""")
    pairs = sorted((g.config["problem"]["net"]["widths"][0],
                    g.config["dynamics"]["stop"]["maxtime"]) for g in plan.groups)
    assert pairs == [(1, 10), (2, 20), (3, 30)]
    assert plan.groups[0].settings == {"pair": [1, 10]}


def test_include_replaces_axes_and_inherits_the_rest(tmp_path):
    plan = plan_text(tmp_path, BASE + """\
grid:
  width: [1, 2]
  biases: [false, true]
  seed: {range: 3}
include:
  - widths: [[2, 2]]
    biases: [true]
""")
    assert plan.n_tasks == 2 * 2 * 3 + 1 * 3
    deep = [g for g in plan.groups if g.config["problem"]["net"]["widths"] == [2, 2]]
    assert len(deep) == 1 and deep[0].seeds.tolist() == [0, 1, 2]


def test_duplicates_from_an_include_are_planned_once(tmp_path):
    plan = plan_text(tmp_path, BASE + """\
grid:
  width: [1, 2]
  seed: {range: 4}
include:
  - width: [2]
    seed: {range: 2, 6}
""".replace("{range: 2, 6}", "{range: [2, 6]}"))
    assert plan.n_tasks == 4 + 6 and plan.duplicates == 2


def test_exclude_by_values_by_expression_and_by_seed(tmp_path):
    plan = plan_text(tmp_path, BASE + """\
grid:
  width: [1, 2, 3]
  biases: [false, true]
  seed: {range: 4}
exclude:
  - {width: 3, biases: true}
  - "width == 1 and biases"
  - {width: 2, seed: 0}
  - {width: 9}
""")
    settings = sorted((g.settings["width"], g.settings["biases"]) for g in plan.groups)
    assert settings == [(1, False), (2, False), (2, True), (3, False)]
    two = [g for g in plan.groups if g.settings["width"] == 2]
    assert all(g.seeds.tolist() == [1, 2, 3] for g in two)
    assert plan.warnings == ["exclude[3] matched no task"]


def test_profile_narrows_axes_merges_fixed_and_keeps_ids(tmp_path):
    text = BASE + """\
grid:
  width: [1, 2, 3]
  seed: {range: 100}
profiles:
  smoke: {grid: {width: [1], seed: {range: 2}}}
  short: {fixed: {dynamics: {stop: {maxtime: 5}}}, units: {size: 7}}
"""
    full, smoke = plan_text(tmp_path, text), plan_text(tmp_path, text, "smoke")
    short = plan_text(tmp_path, text, "short")
    assert smoke.n_tasks == 2
    assert set(ids_of(smoke).values()) <= set(ids_of(full).values())
    assert short.n_tasks == full.n_tasks and short.sweep.unit_size == 7
    assert short.groups[0].config["dynamics"] == {"stop": {"maxtime": 5}}
    assert not set(ids_of(short).values()) & set(ids_of(full).values())
    with pytest.raises(ConfigError, match="profile 'smok' not found; profiles in this file: "
                                          "smoke, short"):
        plan_text(tmp_path, text, "smok")


def test_yaml_reads_exponents_without_dot_as_numbers(tmp_path):
    plan = plan_text(tmp_path, BASE + """\
  dynamics: {reltol: 1e-4, abstol: 2E-7}
grid: {width: [3], seed: [1e2]}
""")
    assert plan.groups[0].config["dynamics"] == {"reltol": 1e-4, "abstol": 2e-7}
    assert plan.groups[0].seeds.tolist() == [100]


def test_expressions_are_restricted():
    assert Expression("max(2, 3) * 2**k if k > 0 else -1")(lambda n: {"k": 2}[n]) == 12
    assert Expression("target.kind == 'gp'")(lambda n: {"target.kind": "gp"}[n]) is True
    assert Expression("target.kind + d * 0").names == ("target.kind", "d")
    for bad in ("__import__('os')", "(1).real", "[x for x in y]", "lambda: 1", "open('f')"):
        with pytest.raises(ExpressionError):
            Expression(bad)
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        Expression("1 / k")(lambda n: 0)


# ---- ids ------------------------------------------------------------------------------------
SPELLING_A = """\
fixed:
  problem:
    net: {input_dim: 2, activation: g, biases: false}
    target: {kind: rosenbrock}
    inputs: {kind: grid, n: 100}
    loss: {maxnorm: 1000, convention: mean}
  dynamics: {reltol: 1e-3, abstol: 1e-6, stop: {maxtime: 60}}
grid:
  width: [1, 2]
  seed: {range: 3}
"""
SPELLING_B = """\
# the same sweep: other key order, block style, other number spellings, paths for aliases,
# defaults written out or left out, a setting moved between fixed and the grid
grid:
  seed: [0, 1, 2]
  problem.net.widths:
    - [1.0]
    - [2]
  maxnorm:
    - 1.0e+3
fixed:
  dynamics:
    stop:
      maxtime: 60.0
    abstol: 0.000001
  problem:
    inputs:
      n: 100
      kind: grid
    target:
      kind: rosenbrock
      a: 1
    init: {kind: glorot_normal}
    net:
      biases: [false, false]
      activation: {name: g}
      input_dim: 2.0
      output_dim: 1
"""


def test_ids_do_not_depend_on_spelling_order_or_axis(tmp_path):
    a = plan_text(tmp_path, SPELLING_A, name="a.yaml")
    b = plan_text(tmp_path, SPELLING_B, name="b.yaml")
    assert a.n_tasks == b.n_tasks == 6
    assert sorted(ids_of(a).values()) == sorted(ids_of(b).values())
    assert {g.digest for g in a.groups} == {g.digest for g in b.groups}


def test_ids_change_when_a_setting_changes(tmp_path):
    a = plan_text(tmp_path, SPELLING_A, name="a.yaml")
    b = plan_text(tmp_path, SPELLING_A.replace("maxtime: 60", "maxtime: 61"), name="b.yaml")
    assert not set(ids_of(a).values()) & set(ids_of(b).values())


def test_extending_seeds_and_widths_keeps_every_old_id(tmp_path):
    small = plan_text(tmp_path, SPELLING_A, name="a.yaml")
    big = plan_text(tmp_path, SPELLING_A.replace("width: [1, 2]", "width: [1, 2, 3, 5]")
                    .replace("{range: 3}", "{range: 500}"), name="b.yaml")
    old, new = ids_of(small), ids_of(big)
    assert big.n_tasks == 2000 and len(set(new.values())) == 2000
    assert all(new[key] == tid for key, tid in old.items())


def test_task_id_of_a_single_config_matches_the_planner(tmp_path):
    plan = plan_text(tmp_path, SPELLING_A)
    g = plan.groups[0]
    seed = int(g.seeds[1])
    config = {"problem": {"net": {"input_dim": 2, "widths": 1, "activation": "g"},
                          "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": 100},
                          "loss": {"maxnorm": 1e3}},
              "dynamics": {"stop": {"maxtime": 60}}, "seed": seed}
    assert g.config["problem"]["net"]["widths"] == [1]
    assert task_id(config) == g.task_ids()[1]
    assert len(task_id(config)) == 16 and int(task_id(config), 16) >= 0
    assert task_ids(json.dumps(g.config, sort_keys=True, separators=(",", ":")), [seed]) == [
        task_id(config)]


def test_canonical_form_normalises_spellings_and_drops_defaults():
    one = canonical({"net": {"input_dim": 2, "widths": [3], "biases": [True, True],
                             "activation": {"name": "softplus", "beta": 1.0},
                             "fixed_readout": [1, 1, 1]},
                     "target": {"kind": "rosenbrock", "zscore": True},
                     "inputs": {"kind": "grid", "n": 100.0}, "init": {"kind": "glorot_normal"}},
                    {"reltol": "1e-3", "method": "flow"})
    assert one == {"problem": {"net": {"input_dim": 2, "widths": [3], "biases": True,
                                       "fixed_readout": 1},
                               "target": {"kind": "rosenbrock"},
                               "inputs": {"kind": "grid", "n": 100}},
                   "dynamics": {}}
    beta = canonical({"net": {"input_dim": 2, "widths": 3, "activation": {"name": "softplus",
                                                                          "beta": 2}},
                      "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": 100}})
    assert beta["problem"]["net"]["activation"] == {"name": "softplus", "beta": 2}


# ---- work units -----------------------------------------------------------------------------
def test_units_are_seed_blocks_and_adding_seeds_keeps_membership(tmp_path):
    text = BASE + """\
grid:
  width: [1]
  seed: {range: 10}
units: {size: 4}
"""
    before = plan_text(tmp_path, text, name="a.yaml")
    after = plan_text(tmp_path, text.replace("{range: 10}", "{range: 23}"), name="b.yaml")
    units_a = {u.id: u.seeds.tolist() for u in before.units()}
    units_b = {u.id: u.seeds.tolist() for u in after.units()}
    assert list(units_a.values()) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    gid = before.groups[0].id
    assert list(units_a) == [f"{gid}-0", f"{gid}-1", f"{gid}-2"]
    for uid, seeds in units_a.items():  # old units keep their tasks; the partial one fills up
        assert units_b[uid][:len(seeds)] == seeds
    assert units_b[f"{gid}-2"] == [8, 9, 10, 11] and units_b[f"{gid}-5"] == [20, 21, 22]
    tasks = list(after.tasks())
    assert tasks[13].seed == 13 and tasks[13].unit == f"{gid}-3"


def test_sparse_seeds_give_units_by_seed_value(tmp_path):
    plan = plan_text(tmp_path, BASE + """\
grid:
  width: [1]
  seed: [3, 100, 101, 7]
units: {size: 50}
""")
    assert [u.seeds.tolist() for u in plan.units()] == [[3, 7], [100, 101]]
    assert [u.block for u in plan.units()] == [0, 2]


def test_json_plan_lists_groups_units_and_optionally_ids(tmp_path):
    plan = plan_text(tmp_path, SPELLING_A)
    data = plan.to_dict(with_tasks=True)
    json.dumps(data)
    assert data["n_tasks"] == 6 and data["n_groups"] == 2 and data["n_units"] == 2
    group = data["groups"][0]
    assert group["seeds"] == [[0, 3]] and group["units"][0]["seeds"] == [0, 2]
    assert group["task_ids"] == plan.groups[0].task_ids()
    assert "task_ids" not in plan.to_dict()["groups"][0]


# ---- sweeps from a store --------------------------------------------------------------------
FROM_STORE = """\
from_store:
  store: runs/source.zarr
  select:
    match: {width: 2, biases: false}
    where: "status == 'done' and weightnorm < maxnorm"
    limit: 2
  initial:
    split: {neuron: min_readout}
    perturb: {direction: hessian_min}
fixed:
  dynamics: {stop: {maxtime: 600}}
grid:
  initial.split.gamma: [-0.5, 0.5, 1.5]
  initial.perturb.scale: [1.0e-7, -1.0e-7]
  seed: [0]
"""


def source_records() -> list[SourceRecord]:
    def problem(width, biases):
        return {"net": {"input_dim": 2, "widths": [width], "activation": "g", "biases": biases},
                "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": 100},
                "loss": {"maxnorm": 1000}}
    return [SourceRecord(f"src-{w}-{b}-{s}", {"problem": problem(w, b), "dynamics": {},
                                              "seed": s},
                         {"status": "done" if s != 1 else "failed",
                          "weightnorm": 5000.0 if s == 0 else 3.0})
            for w in (1, 2) for b in (False, True) for s in range(5)]


def test_from_store_needs_an_existing_store(tmp_path):
    path = write(tmp_path, FROM_STORE)
    with pytest.raises(ConfigError, match=r"from_store.store: source store 'runs/source.zarr' "
                                          "not found"):
        load_sweep(path)
    (tmp_path / "runs" / "source.zarr").mkdir(parents=True)
    plan = plan_sweep(path)  # found relative to the sweep file
    assert plan.n_tasks == 0 and plan.per_source == 6
    assert plan.to_dict()["source"]["per_source_task"] == 6


def test_from_store_selects_records_and_builds_split_tasks(tmp_path):
    (tmp_path / "runs" / "source.zarr").mkdir(parents=True)
    sweep = load_sweep(write(tmp_path, FROM_STORE))
    plan = plan_from_records(sweep, source_records())
    sources = sorted({g.config["initial"]["source"] for g in plan.groups})
    assert sources == ["src-2-False-2", "src-2-False-3"]  # seed 0: weightnorm, 1: failed
    assert plan.n_tasks == 2 * 6
    g = plan.groups[0]
    assert g.config["problem"]["net"]["widths"] == [3]  # the split adds a neuron
    assert g.config["initial"]["split"] == {"neuron": "min_readout", "gamma": -0.5}
    assert g.config["dynamics"] == {"stop": {"maxtime": 600}}
    again = plan_from_records(sweep, reversed(source_records()))
    assert sorted(ids_of(plan).values()) == sorted(ids_of(again).values())


def test_from_store_where_with_an_unknown_name_is_an_error(tmp_path):
    (tmp_path / "runs" / "source.zarr").mkdir(parents=True)
    sweep = load_sweep(write(tmp_path, FROM_STORE.replace("weightnorm < maxnorm",
                                                          "wieghtnorm < 1")))
    with pytest.raises(ConfigError, match="from_store.select.where: 'wieghtnorm' is neither"):
        plan_from_records(sweep, source_records())


def test_initial_settings_need_from_store(tmp_path):
    with pytest.raises(ConfigError, match="initial: settings of the initial point exist only"):
        plan_text(tmp_path, BASE + "grid: {initial.perturb.scale: [1], seed: [0]}\n")


def test_from_store_count_that_depends_on_the_source_is_unknown(tmp_path):
    (tmp_path / "runs" / "source.zarr").mkdir(parents=True)
    text = FROM_STORE.replace("seed: [0]", 'seed: {range: "width"}')
    plan = plan_sweep(write(tmp_path, text))
    assert plan.per_source is None
    sweep = load_sweep(write(tmp_path, text))
    # expressions see the source's settings (width 2, before the split): 2 seeds per option
    assert plan_from_records(sweep, source_records()).n_tasks == 2 * 6 * 2
