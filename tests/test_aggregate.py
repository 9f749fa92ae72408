"""The xarray layer: loss levels, histograms, outcome classes, fractions, query and plot."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
import xarray as xr
from typer.testing import CliRunner

from landscape_hpc.aggregate import (classify, cluster, convergence_fractions, level_table,
                                     loss_histogram, lowest_threshold, open_results, quantise,
                                     results_by_axes, wilson_interval)
from landscape_hpc.aggregate.commands import register
from landscape_hpc.aggregate.flat import grid
from landscape_hpc.aggregate.tables import rows
from landscape_hpc.config import ConfigError
from landscape_hpc.run import work_left, worker
from landscape_hpc.store import DONE, FAILED, PENDING, Store
from landscape_hpc.store import open_results as open_raw
from landscape_hpc.sweep import plan_sweep

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "tests" / "data" / "tiny_sweep.yaml"
TEACHER = ROOT / "tests" / "data" / "teacher_sweep.yaml"
Z2 = 1.959963984540054**2


def invoke(*args):
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """test app"""

    register(app)
    return CliRunner().invoke(app, [str(a) for a in args])


# ---- levels -------------------------------------------------------------------------------------
def test_cluster_uses_relative_gaps_and_medians():
    losses = np.array([1.0, 1.0005, 1.002, 0.5, 0.5004, 0.5003, 1e-6, 1.1e-6, np.nan, np.inf])
    lv = cluster(losses)
    # 1.0 and 1.0005 differ by 5e-4 absolutely (>> atol) but by 5e-4 < 1e-3 relatively: one level;
    # 1e-6 and 1.1e-6 differ by only 1e-7 absolutely but by 9% relatively: two levels
    np.testing.assert_allclose(lv.value, [1e-6, 1.1e-6, 0.5003, 1.00025, 1.002])
    np.testing.assert_array_equal(lv.count, [1, 1, 3, 2, 1])
    np.testing.assert_array_equal(lv.index, [3, 3, 4, 2, 2, 2, 0, 1, -1, -1])
    np.testing.assert_array_equal(lv.low, [1e-6, 1.1e-6, 0.5, 1.0, 1.002])
    np.testing.assert_array_equal(lv.high, [1e-6, 1.1e-6, 0.5004, 1.0005, 1.002])


def test_cluster_is_independent_of_order_and_merges_zeros():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.choice([0.1, 0.2, 0.7], 500) * (1 + 1e-5 * rng.standard_normal(500)),
                        [0.0, 1e-30, 1e-20, 1e-14]])
    a = cluster(x)
    perm = rng.permutation(len(x))
    b = cluster(x[perm])
    np.testing.assert_array_equal(a.value, b.value)
    np.testing.assert_array_equal(a.count, b.count)
    np.testing.assert_array_equal(a.index[perm], b.index)
    assert len(a.value) == 4 and a.count[0] == 4 and a.high[0] == 1e-14
    assert len(cluster(x, rtol=1e-7).value) > 4 and len(cluster([]).value) == 0


def test_lowest_threshold_rules():
    assert lowest_threshold([1e-20, 0.1], [1e-15, 0.1]) == 1e-10
    assert lowest_threshold([0.1, 0.2, 10.0], [0.1, 0.21, 10.0]) == pytest.approx(np.sqrt(2.1))
    assert 1.0 < lowest_threshold([1.0], [1.0]) < 1.0 + 1e-6
    assert lowest_threshold([], []) == 0.0


def test_wilson_interval_against_hand_computation():
    lo, hi = wilson_interval([0, 4, 3, 0], [4, 4, 10, 0])
    assert lo[0] == 0 and hi[0] == pytest.approx(Z2 / (4 + Z2), rel=1e-12)
    assert lo[1] == pytest.approx(4 / (4 + Z2), rel=1e-12) and hi[1] == pytest.approx(1.0)
    p, n = 0.3, 10
    centre = (p + Z2 / (2 * n)) / (1 + Z2 / n)
    half = np.sqrt(Z2) * np.sqrt(p * (1 - p) / n + Z2 / (4 * n * n)) / (1 + Z2 / n)
    assert (lo[2], hi[2]) == pytest.approx((centre - half, centre + half), rel=1e-12)
    assert (lo[2], hi[2]) == pytest.approx((0.10779, 0.60322), abs=1e-5)  # published table
    assert np.isnan(lo[3]) and np.isnan(hi[3])
    lo, hi = wilson_interval([0, 3], [3, 3])             # the ends are exact, not 5.6e-17
    assert lo[0] == 0.0 and hi[1] == 1.0


# ---- a synthetic store with known answers -------------------------------------------------------
# (width, seed): loss, stopped_by, polish_stopped_by, n_negative, status
KNOWN = {
    (1, 0): (0.5, "min_gradnorm", "gtol", 0, DONE),        # local min, level 0.5
    (1, 1): (0.5002, "patience", "gtol", 0, DONE),         # polished: local min, level 0.5
    (1, 2): (0.8, "min_gradnorm", "gtol", 1, DONE),        # saddle, level 0.8
    (1, 3): (0.3, "maxnorm", "skipped", 0, DONE),          # channel
    (2, 0): (0.5001, "min_gradnorm", "gtol", 0, DONE),     # local min, level 0.5
    (2, 1): (1e-3, "min_gradnorm", "gtol", 0, DONE),       # lowest found, level 1e-3
    (2, 2): (1e-3, "min_gradnorm", "", 0, DONE),           # lowest found, level 1e-3
    (2, 3): (0.6, "maxtime", "stalled", 0, DONE),          # not converged
    (3, 0): (1.0005e-3, "min_gradnorm", "gtol", 0, DONE),  # lowest found, level 1e-3
    (3, 1): (0.2, "nonfinite", "gtol", 0, DONE),           # not converged
    (3, 2): (np.nan, "", "", -1, FAILED),                  # not converged
    (3, 3): (np.nan, "", "", -1, PENDING),                 # not converged
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("syn") / "syn.zarr"
    st, _ = Store.create_or_extend(path, plan_sweep(SWEEP))
    t = st.tasks
    keys = list(zip(t["width"][:].tolist(), t["seed"][:].tolist()))
    rows = [KNOWN[k] for k in keys]
    for i, name in enumerate(["loss", "stopped_by", "polish_stopped_by", "n_negative", "status"]):
        values = [r[i] for r in rows]
        t[name][:] = np.array(values, dtype=object if isinstance(values[0], str) else None)
    return path


def test_results_by_axes_lays_tasks_on_the_axes(synthetic):
    ds = open_results(synthetic)
    assert ds["loss"].dims == ("width", "seed") and ds["theta"].dims == ("width", "seed", "param")
    assert ds["loss"].chunks is not None                             # lazy, dask-backed
    assert ds["loss"].attrs["description"].startswith("final loss")
    assert ds["wall_time"].attrs["units"] == "s" and "flag_meanings" in ds["status"].attrs
    assert ds["loss"].sel(width=2, seed=1).values.item() == 1e-3
    assert ds["stopped_by"].sel(width=3, seed=1).values.item() == "nonfinite"
    assert ds["status"].sel(width=3, seed=3).values.item() == PENDING


def test_non_rectangular_sweeps_leave_missing_cells_nan():
    raw = xr.Dataset(
        {"loss": ("task", [0.1, 0.2, 0.3, 9.0, 0.4]), "status": ("task", np.int8([3, 3, 3, 0, 3])),
         "stopped_by": ("task", np.array(["min_gradnorm"] * 5, dtype=object)),
         "polish_stopped_by": ("task", np.array(["gtol"] * 5, dtype=object)),
         "n_negative": ("task", np.int32([0, 1, 2, 3, 4]))},
        coords={"width": ("task", [1, 1, 2, 7, 2]), "seed": ("task", [0, 1, 1, 0, 5]),
                "task_id": ("task", np.array(list("abcde"), dtype=object))},
        attrs={"axes": ["width"]})
    ds = results_by_axes(raw)
    assert ds["width"].values.tolist() == [1, 2] and ds["seed"].values.tolist() == [0, 1, 5]
    np.testing.assert_array_equal(ds["loss"].values, [[0.1, 0.2, np.nan], [np.nan, 0.3, 0.4]])
    assert ds["status"].values.tolist() == [[3, 3, 0], [0, 3, 3]]
    assert ds["stopped_by"].values[0, 2] == ""
    np.testing.assert_array_equal(ds["n_negative"].values, [[0, 1, np.nan], [np.nan, 2, 4]])
    assert convergence_fractions(ds, ["width"])["n_tasks"].values.tolist() == [2, 2]
    # an axis that some groups do not have is NaN there, a value of its own
    raw = raw.assign_coords(scale=("task", [0.5, np.nan, 0.5, 0.5, np.nan])).assign_attrs(
        axes=["width", "scale"])
    ds = results_by_axes(raw)
    assert ds["loss"].dims == ("width", "scale", "seed") and np.isnan(ds["scale"].values[1])
    np.testing.assert_array_equal(ds["loss"].sel(width=1, seed=1), [np.nan, 0.2])
    for d in (raw, ds):
        assert loss_histogram(d, ["scale"])["count"].values.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1]]


def test_a_conditional_axis_keeps_its_nan_groups_in_their_cells():
    """method a string axis, eta set only where method is gd: every task stays in its cell."""
    raw = xr.Dataset(
        {"loss": ("task", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), "status": ("task", np.int8([3] * 6)),
         "stopped_by": ("task", np.array(["min_gradnorm"] * 6, dtype=object)),
         "polish_stopped_by": ("task", np.array(["gtol"] * 6, dtype=object)),
         "n_negative": ("task", np.zeros(6, np.int32))},
        coords={"width": ("task", [1, 1, 1, 2, 2, 2]),
                "method": ("task", np.array(["flow", "gd", "gd", "flow", "gd", "flow"], object)),
                "eta": ("task", [np.nan, 0.1, 0.1, np.nan, 0.1, np.nan]),
                "seed": ("task", [0, 0, 1, 0, 0, 1])},
        attrs={"axes": ["width", "method", "eta"]})
    ds = results_by_axes(raw)
    assert ds["method"].values.tolist() == ["flow", "gd"] and np.isnan(ds["eta"].values[1])
    assert int((ds["status"] == DONE).sum()) == 6
    assert ds["loss"].sel({"width": 1, "method": "gd", "eta": 0.1, "seed": 1}).item() == 0.3
    assert ds["loss"].sel({"width": 2, "method": "flow", "seed": 1}).isel(eta=1).item() == 0.6
    f = convergence_fractions(ds, ["eta", "method"])
    assert [(m, n) for (_, m), n in zip(f.indexes["group"], f["n_tasks"].values)] == [
        ("gd", 3), ("flow", 3)]


def test_histogram_and_fractions_known_answers(synthetic):
    for ds in (open_results(synthetic), open_raw(synthetic)):    # either layout
        h = loss_histogram(ds, by=["width"])
        np.testing.assert_allclose(h["level"], [1e-3, 0.5001, 0.8])
        assert h["level_count"].values.tolist() == [3, 3, 1]
        assert h["count"].values.tolist() == [[0, 2, 1], [2, 1, 0], [1, 0, 0]]
        assert h["n_tasks"].values.tolist() == [4, 4, 4]
        f = convergence_fractions(ds, by=["width"])
        # no loss of 0: the global minimum is unknown, the lowest level is lowest_found
        assert f.attrs["lowest_threshold"] == pytest.approx(np.sqrt(1.0005e-3 * 0.5))
        assert f.attrs["global_threshold"] == 1e-10
        assert f["outcome"].values.tolist() == ["global_min", "lowest_found", "local_min",
                                                "saddle", "channel", "not_converged"]
        assert f["count"].values.tolist() == [[0, 0, 2, 1, 1, 0], [0, 2, 1, 0, 0, 1],
                                              [0, 1, 0, 0, 0, 3]]
        np.testing.assert_allclose(f["fraction"].sel(width=3), [0, 0.25, 0, 0, 0, 0.75])
        lo, hi = wilson_interval(3, 4)
        assert f["lower"].sel(width=3, outcome="not_converged").item() == pytest.approx(lo)
        assert f["upper"].sel(width=3, outcome="not_converged").item() == pytest.approx(hi)


def test_options_of_levels_and_classes(synthetic):
    ds = open_results(synthetic)
    h = loss_histogram(ds, tasks="done")                 # every done task with a finite loss
    assert h["count"].values.sum() == 10 and h["n_tasks"].item() == 12
    assert loss_histogram(ds, tasks="channel")["level"].values.tolist() == [0.3]
    # a given threshold is a known global minimum: below it global_min, never lowest_found
    f = convergence_fractions(ds, by=["width", "seed"], classes=["global_min", "lowest_found"],
                              threshold=0.6)
    assert f["count"].sel(seed=0).values.tolist() == [[1, 0], [1, 0], [1, 0]]
    assert f["count"].sel(outcome="lowest_found").values.sum() == 0
    assert f["n_tasks"].values.sum() == 12 and f.attrs["lowest_threshold"] == 0.6
    c = classify(quantise(ds, rtol=1e-6))                # 0.5, 0.5001, 0.5002 are now apart
    assert c.sizes["level"] == 6 and c["outcome"].dtype == np.int8
    with pytest.raises(ConfigError, match="no axis 'depth'; axes of this store: width, seed"):
        loss_histogram(ds, by=["depth"])
    with pytest.raises(ConfigError, match="no outcome class 'minimum'"):
        convergence_fractions(ds, classes=["minimum"])


def test_query_cli_on_the_synthetic_store(synthetic, tmp_path):
    r = invoke("query", synthetic, "--by", "width", "--what", "fractions", "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    row = next(x for x in out["rows"] if x["width"] == 2 and x["outcome"] == "lowest_found")
    assert (row["count"], row["n_tasks"], row["fraction"]) == (2, 4, 0.5)
    r = invoke("query", synthetic, "--by", "width", "--format", "csv")
    assert r.exit_code == 0 and r.output.splitlines()[0] == "width,level_index,loss,count"
    assert len(r.output.splitlines()) == 1 + 5
    r = invoke("query", synthetic, "--what", "levels")
    assert r.exit_code == 0 and "0.5001" in r.output
    nc = tmp_path / "h.nc"
    r = invoke("query", synthetic, "--by", "width", "--format", "netcdf", "--out", nc)
    assert r.exit_code == 0, r.output
    assert xr.open_dataset(nc)["count"].values.sum() == 7
    r = invoke("query", synthetic, "--what", "levels", "--format", "netcdf", "--out", nc)
    assert r.exit_code == 0 and xr.open_dataset(nc)["level_count"].values.tolist() == [3, 3, 1]


@pytest.mark.parametrize("args, message", [
    (["--by", "depth"], "no axis 'depth'"),
    (["--what", "fractions", "--classes", "minimum"], "no outcome class 'minimum'"),
    (["--what", "counts"], "--what: expected one of"),
    (["--format", "xml"], "--format: expected one of"),
    (["--format", "netcdf"], "give the file with --out"),
    (["--tasks", "some"], "tasks: expected one of"),
])
def test_query_bad_input(synthetic, args, message):
    r = invoke("query", synthetic, *args)
    assert r.exit_code == 2 and message in r.output


def test_not_a_store(tmp_path):
    for command in ("query", "plot"):
        r = invoke(command, tmp_path)
        assert r.exit_code == 2 and "not a landscape-hpc store" in r.output
    r = invoke("plot", tmp_path, "--classes", "nope")
    assert r.exit_code == 2 and "no outcome class 'nope'" in r.output


# ---- a store built by a real run ----------------------------------------------------------------
@pytest.fixture(scope="module")
def real(tmp_path_factory):
    path = tmp_path_factory.mktemp("real") / "tiny.zarr"
    r = subprocess.run([sys.executable, "-m", "landscape_hpc.cli", "run", str(SWEEP), "--store",
                        str(path), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return path


def test_real_store(real, tmp_path):
    raw = open_raw(real).compute()
    ds = open_results(real)
    assert dict(ds["loss"].sizes) == {"width": 3, "seed": 4}
    assert ds.sizes["param"] == 9 and ds.sizes["snapshot"] == raw.sizes["snapshot"]
    for i in range(raw.sizes["task"]):
        cell = ds.sel(width=raw["width"].values[i], seed=raw["seed"].values[i])
        assert cell["loss"].values.item() == raw["loss"].values[i]
        assert cell["task_id"].values.item() == raw["task_id"].values[i]
    h = loss_histogram(ds, by=["width"])
    ok = raw["stopped_by"].isin(["min_gradnorm", "min_loss"]) | (raw["polish_stopped_by"] == "gtol")
    ok &= ~raw["stopped_by"].isin(["channel", "maxnorm", "nonfinite"])
    assert h["count"].values.sum() == int(ok.sum())
    f = convergence_fractions(ds, by=["width"])
    np.testing.assert_allclose(f["fraction"].sum("outcome"), 1.0)
    channels = int(raw.stopped_by.isin(["channel", "maxnorm"]).sum())
    assert f["count"].sel(outcome="channel").values.sum() == channels
    r = invoke("plot", real, "--out", tmp_path, "--by", "width", "--prefix", "t_")
    assert r.exit_code == 0, r.output
    for name in ("t_loss_levels.png", "t_fractions.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    r = invoke("query", real, "--by", "width", "--what", "fractions")
    assert r.exit_code == 0 and "not_converged" in r.output


def test_plots_with_a_second_axis_and_a_string_x_axis(tmp_path):
    from landscape_hpc.aggregate.plots import plot_fractions, plot_loss_levels

    n = 24
    raw = xr.Dataset(
        {"loss": ("task", np.tile([0.1, 0.2, 0.2, 0.5], 6)),
         "stopped_by": ("task", np.array(["min_gradnorm", "maxnorm"] * 12, dtype=object)),
         "polish_stopped_by": ("task", np.array(["gtol"] * n, dtype=object)),
         "n_negative": ("task", np.zeros(n, np.int32)),
         "status": ("task", np.full(n, DONE, np.int8))},
        coords={"width": ("task", np.repeat([1, 2, 3], 8)),
                "activation": ("task", np.tile(np.repeat(np.array(["g", "relu"], object), 4), 3)),
                "seed": ("task", np.tile(np.arange(4), 6))},
        attrs={"axes": ["width", "activation"]})
    ds = results_by_axes(raw)
    for by in (["width", "activation"], ["activation", "width"]):
        h = loss_histogram(ds, by)
        assert h["count"].values.sum() == 12
        channels = loss_histogram(ds, by, tasks="channel")
        plot_loss_levels(h, tmp_path / "l.png", by[0], channels=channels)
        plot_fractions(convergence_fractions(ds, by), tmp_path / "f.png", by[0])
        assert (tmp_path / "l.png").stat().st_size > 0 and (tmp_path / "f.png").stat().st_size > 0
    # no converged task at all: an empty level dim still plots
    none = raw.assign(stopped_by=("task", np.array(["maxnorm"] * n, dtype=object)))
    h = loss_histogram(none, ["width"])
    assert h.sizes["level"] == 0 and h["n_tasks"].values.tolist() == [8, 8, 8]
    plot_loss_levels(h, tmp_path / "l.png", "width")


def test_an_include_with_an_alias_lays_out_on_the_same_axis(tmp_path):
    """channels_scaling.yaml: the main grid has `width`, its include `widths` (deep nets)."""
    sweep = tmp_path / "alias.yaml"
    sweep.write_text("""
fixed:
  problem: {net: {input_dim: 2}, target: {kind: rosenbrock}, inputs: {kind: grid, n: 16}}
grid:
  width: [2, 3]
  seed: {range: 2}
include:
  - widths: [[2, 2], [2, 2, 2]]
""")
    Store.create_or_extend(tmp_path / "s.zarr", plan_sweep(sweep))
    ds = open_results(tmp_path / "s.zarr")
    assert ds.attrs["axes"] == ["width"]
    assert sorted(ds["width"].values.tolist()) == ["2", "3", "[2, 2, 2]", "[2, 2]"]
    assert (ds["status"].values == PENDING).all()


# ---- joint tables, what the classes know, losses zero up to rounding ----------------------------
PAIRS = [(1, 1), (2, 2), (2, 3)]   # the (teacher_width, width) pairs of the teacher sweep


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """The teacher sweep, run in this process: students that represent the teacher, on the
    population loss."""
    path = tmp_path_factory.mktemp("teacher") / "t.zarr"
    store, _ = Store.create_or_extend(path, plan_sweep(TEACHER))
    for u, _ in work_left(store):
        worker.run_unit(path, u)
    return path


def test_joint_tables_hold_only_the_combinations_with_tasks(teacher):
    ds = open_results(teacher)
    assert dict(ds["loss"].sizes) == {"teacher_width": 2, "width": 3, "d": 2, "seed": 3}
    by = ["teacher_width", "width"]
    h, f = loss_histogram(ds, by), convergence_fractions(ds, by)
    for result in (h, f):
        assert result["n_tasks"].dims == ("group",)
        assert list(result.indexes["group"].names) == by
        assert list(result.indexes["group"]) == PAIRS
        assert result["n_tasks"].values.tolist() == [3, 3, 3]
    assert f["fraction"].sel(teacher_width=2, width=3).sum().item() == pytest.approx(1.0)
    full = grid(f)                                   # the product of the axes, for the plots
    assert full["n_tasks"].values.tolist() == [[3, 0, 0], [0, 3, 3]]
    assert np.isnan(full["fraction"].sel(teacher_width=1, width=3)).all()
    assert grid(h)["count"].sel(teacher_width=1, width=2).values.tolist() == [0]
    three = convergence_fractions(open_raw(teacher), ["width", "d", "teacher_width"])
    assert list(three.indexes["group"]) == [(1, 1, 1), (2, 2, 2), (3, 2, 2)]


def test_query_and_plot_on_several_axes(teacher, tmp_path):
    by = ["--by", "teacher_width,width"]
    r = invoke("query", teacher, *by, "--what", "fractions", "--format", "csv")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "teacher_width,width,outcome,count,n_tasks,fraction,lower,upper"
    assert len(lines) == 1 + 3 * 6
    assert sorted({tuple(map(int, x.split(",")[:2])) for x in lines[1:]}) == PAIRS
    r = invoke("query", teacher, *by, "--format", "json")          # one (zero) level per pair
    assert [(x["teacher_width"], x["width"]) for x in json.loads(r.output)["rows"]] == PAIRS
    r = invoke("query", teacher, *by, "--what", "fractions")        # the table
    assert r.exit_code == 0 and r.output.count("global_min") == 3 and "nan" not in r.output
    assert "lowest_found" in r.output                                # not cut at 80 columns
    nc = tmp_path / "f.nc"
    r = invoke("query", teacher, *by, "--what", "fractions", "--format", "netcdf", "--out", nc)
    assert r.exit_code == 0, r.output
    back = xr.open_dataset(nc)
    assert back["n_tasks"].dims == ("group",) and back["n_tasks"].values.tolist() == [3, 3, 3]
    assert list(back.set_index(group=["teacher_width", "width"]).indexes["group"]) == PAIRS
    r = invoke("plot", teacher, *by, "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "fractions.png").read_bytes()[:4] == b"\x89PNG"


def test_classes_say_what_is_known(teacher, real):
    """Zero loss (students that represent their teacher) is global_min; the lowest level of a
    target that no network fits exactly (Rosenbrock) is lowest_found, not global_min."""
    ds = open_results(teacher)
    f = convergence_fractions(ds).sel(outcome=["global_min", "lowest_found"])
    assert f["count"].values.tolist() == [loss_histogram(ds)["n_quantised"].item(), 0]
    assert f["count"].values[0] > 0 and f.attrs["lowest_threshold"] == 1e-10
    ds = open_results(real)
    f = convergence_fractions(ds).sel(outcome=["global_min", "lowest_found"])
    assert f["count"].values[0] == 0 and f["count"].values[1] > 0
    assert f.attrs["lowest_threshold"] > quantise(ds)["level"].values[0] > 1e-10
    r = invoke("query", real, "--what", "fractions", "--global-threshold", 1.0, "--format", "json")
    counts = {x["outcome"]: x["count"] for x in json.loads(r.output)["rows"]}
    assert counts["lowest_found"] == 0 and counts["global_min"] > 0


def test_losses_zero_up_to_rounding_print_as_zero(teacher):
    raw = xr.Dataset(
        {"loss": ("task", [-5e-15, 3e-16, 1e-9, 0.25]), "status": ("task", np.int8([3] * 4)),
         "stopped_by": ("task", np.array(["min_loss"] * 4, dtype=object)),
         "polish_stopped_by": ("task", np.array(["gtol"] * 4, dtype=object)),
         "n_negative": ("task", np.int32([0] * 4))},
        coords={"width": ("task", [1, 1, 2, 2]), "seed": ("task", [0, 1, 0, 1])},
        attrs={"axes": ["width"]})
    h = loss_histogram(raw, ["width"])
    assert h["level"].values[0] == pytest.approx(-2.35e-15)      # the data keep their values
    assert rows(h, "histogram")["loss"].tolist() == [0.0, 1e-9, 0.25]
    levels = rows(level_table(quantise(raw)), "levels")
    assert levels[["loss", "low", "high"]].values[0].tolist() == [0.0, 0.0, 0.0]
    assert levels["low"].tolist()[1:] == [1e-9, 0.25]
    loss = open_raw(teacher)["loss"].values
    assert (np.abs(loss[np.isfinite(loss)]) < 1e-10).all()      # stored as computed: +-1e-16
    r = invoke("query", teacher, "--what", "levels", "--format", "csv")
    assert r.output.splitlines()[1] == "0,0.0,9,0.0,0.0"
    r = invoke("query", teacher, "--what", "levels")
    body = [x for x in r.output.splitlines() if x.startswith("│")]
    assert [c.strip() for c in body[0].split("│")[1:-1]] == ["0", "0", "9", "0", "0"]
