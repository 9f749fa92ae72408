"""Each analysis/ script makes its figure and table from the smoke store of its sweep file."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2_contingency

ROOT = Path(__file__).resolve().parents[1]

#: script -> (sweep file, checks on its printed output)
SCRIPTS = {
    "channels_loss_levels": ("channels_loss_levels", []),
    "channels_saddle_line": ("channels_saddle_line", ["Thm. 4.1 inertia: 61 of 61 gamma agree"]),
    "channels_scaling": ("channels_scaling", []),
    "few_neurons_one_neuron": ("few_neurons_one_neuron", []),
    "few_neurons_four_neuron": ("few_neurons_four_neuron", []),
    "symmetry_induced": ("symmetry_induced", ["neuron classes:"]),
    "relu_population": ("relu_population", []),
    "relu_population_protocol": ("relu_population_protocol", []),
    "channels_channel_stop": ("channels_channel_stop", []),
    "channels_jump": ("channels_loss_levels", ["limit_error"]),
    "relu_like": ("relu_like", []),
}


def run(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=1200)


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> Path:
    """The smoke stores of the sweeps, in runs/ of a working directory (the saddle-line sweep
    starts from runs/channels_loss_levels.zarr, as its file says)."""
    return tmp_path_factory.mktemp("analysis")


@pytest.fixture(scope="module")
def reproduce():
    """analysis/reproduce.py as a module (registered first: its dataclasses look it up)."""
    spec = importlib.util.spec_from_file_location("reproduce", ROOT / "analysis" / "reproduce.py")
    module = sys.modules["reproduce"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def smoke_store(stores: Path, sweep: str) -> Path:
    store = stores / "runs" / f"{sweep}.zarr"
    if not store.exists():
        if sweep == "channels_saddle_line":
            smoke_store(stores, "channels_loss_levels")
        r = run("-m", "landscape_hpc.cli", "run", ROOT / "sweeps" / f"{sweep}.yaml", "--scale",
                "smoke", "--store", store, "-q", cwd=stores)
        assert r.returncode == 0, r.stdout + r.stderr
    return store


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_script_writes_its_figure_and_table(script, stores):
    sweep, expected = SCRIPTS[script]
    store = smoke_store(stores, sweep)
    out = stores / "figures"
    r = run(ROOT / "analysis" / f"{script}.py", store, "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    png, table = out / f"{script}.png", out / f"{script}.csv"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader(table.open()))
    assert rows, f"{table} is empty"
    for text in expected:
        assert text in r.stdout, r.stdout


def test_reproduce_compares_the_tables_and_keeps_them_without_stores(stores, tmp_path):
    """reproduce.py runs every script on the stores in --runs and writes the report; a second
    call without stores renders the same rows from the kept tables."""
    for sweep in {s for s, _ in SCRIPTS.values()}:
        smoke_store(stores, sweep)
    out, report = tmp_path / "repro", tmp_path / "REPRODUCTION.md"
    args = ["--out", out, "--report", report]
    r = run(ROOT / "analysis" / "reproduce.py", "--runs", stores / "runs", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    runs = {row["sweep"]: row for row in csv.DictReader((out / "runs.csv").open())}
    assert set(runs) == {s for s, _ in SCRIPTS.values()}
    assert all(row["profile"] == "smoke" and row["done"] == row["tasks"] for row in runs.values())
    text = report.read_text()
    for title in ("## channels-to-infinity", "## few-neurons-theory, Table 1",
                  "## symmetry-induced-critical-points", "## relu-like-stationary-points",
                  "## relu-population-landscape"):
        assert title in text
    assert "| Thm. 4.1 prediction" not in text and "matches at 61/61 gamma" in text
    assert "**not run**" not in text.split("## channels-to-infinity, Fig. 4")[1].split("## few")[0]
    r = run(ROOT / "analysis" / "reproduce.py", "--runs", tmp_path / "none", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert report.read_text() == text


def test_script_refuses_a_path_that_is_not_a_store(tmp_path):
    r = run(ROOT / "analysis" / "channels_loss_levels.py", tmp_path / "none.zarr")
    assert r.returncode == 2 and "not a landscape-hpc store" in r.stderr
    assert not (ROOT / "figures").exists()


def test_trend_test_of_two_groups_is_pearsons_chi_square(reproduce):
    """The Cochran-Armitage z of reproduce.py: with two groups z^2 is Pearson's chi-square of the
    2 x 2 table; its sign follows the trend, and scores shifted or scaled do not change it."""
    k, n = np.array([10, 25]), np.array([50, 60])
    z, p = reproduce.trend(k, n, np.array([0.0, 1.0]))
    chi2 = chi2_contingency(np.stack([k, n - k]), correction=False).statistic
    assert z > 0 and z ** 2 == pytest.approx(chi2, rel=1e-12)
    assert p == pytest.approx(chi2_contingency(np.stack([k, n - k]), correction=False).pvalue / 2)
    k3, n3, x3 = np.array([5, 10, 30]), np.array([50, 50, 50]), np.array([-1.0, 0.0, 1.0])
    z3, _ = reproduce.trend(k3, n3, x3)
    assert reproduce.trend(k3, n3, 3 * x3 + 7)[0] == pytest.approx(z3)
    assert reproduce.trend(k3[::-1], n3, x3)[0] == pytest.approx(-z3)


def test_homogeneity_test_of_shares_across_d(reproduce):
    """The protocol rows' test: by hand, 10, 20, 30 of 50 each give chi2 = 50/3 on 2 df
    (p = exp(-chi2 / 2)); equal shares give 0; an outcome no group has is no difference."""
    chi2, p = reproduce.homogeneity(np.array([10, 20, 30]), np.array([50, 50, 50]))
    assert chi2 == pytest.approx(50 / 3) and p == pytest.approx(np.exp(-25 / 3))
    assert reproduce.homogeneity(np.array([12, 24]), np.array([50, 100])) == pytest.approx((0, 1))
    assert reproduce.homogeneity(np.array([0, 0, 0]), np.array([300] * 3)) == (0.0, 1.0)


def test_stratified_trend_test_sums_the_strata(reproduce):
    """Stratified by architecture: strata sum their statistics and variances, so two strata with
    opposite trends cancel, and a stratum at one score only adds nothing."""
    k, n, x = np.array([5, 30, 30, 5]), np.array([50] * 4), np.array([0.0, 1.0, 0.0, 1.0])
    assert reproduce.trend(k, n, x, np.array(["a", "a", "b", "b"]))[0] == pytest.approx(0.0)
    z, _ = reproduce.trend(k[:2], n[:2], x[:2])
    lone = reproduce.trend(np.append(k[:2], 40), np.append(n[:2], 50), np.append(x[:2], 0.0),
                           np.array(["a", "a", "b"]))[0]
    assert z > 4 and lone == pytest.approx(z)
