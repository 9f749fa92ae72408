"""Each analysis/ script makes its figure and table from the smoke store of its sweep file."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_script_refuses_a_path_that_is_not_a_store(tmp_path):
    r = run(ROOT / "analysis" / "channels_loss_levels.py", tmp_path / "none.zarr")
    assert r.returncode == 2 and "not a landscape-hpc store" in r.stderr
    assert not (ROOT / "figures").exists()
