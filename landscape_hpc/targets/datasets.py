"""Small explicit datasets (x, y), from a file or given inline.

File formats, chosen by the suffix:

* ``.yaml`` / ``.yml`` / ``.json``: a mapping with keys ``x`` (a list of N rows, each a list of
  d numbers) and ``y`` (a list of N rows of output_dim numbers, or a list of N numbers for a scalar
  output), plus optional ``description`` and ``source`` strings; no other keys.
* ``.csv``: a header row, then one row per sample; the columns named ``x...`` are the inputs and
  those named ``y...`` the outputs, each in the order they appear (e.g. ``x1,x2,y``).

A relative path is looked up from the working directory, then in the repository's ``sweeps/data``
(so ``relu_like_e1.yaml`` names the shipped file).  Errors name the file, the key and the
expected form.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from ..config import read_yaml
from ..models.network import DTYPE

Tensor = torch.Tensor
DATA_DIR = Path(__file__).resolve().parents[2] / "sweeps" / "data"
_KEYS = {"x", "y", "description", "source"}


def resolve(path: str | Path) -> Path:
    """The data file ``path`` names (see the module docstring), or FileNotFoundError."""
    p = Path(path)
    for candidate in (p, DATA_DIR / p):
        if candidate.is_file():
            return candidate
    tried = str(p) if p.is_absolute() else f"{p.resolve()} and {DATA_DIR / p}"
    raise FileNotFoundError(f"dataset file '{path}' not found (tried {tried})")


def as_matrix(value, where: str, key: str, allow_flat: bool = False) -> Tensor:
    """A rectangular list of rows of numbers as a float64 (N, k) tensor, or a ValueError.

    ``allow_flat`` also accepts a flat list of N numbers, read as N rows of one number.
    """
    form = "a list of N rows, each a list of numbers" + (
        " (or a list of N numbers)" if allow_flat else "")
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{where}: key '{key}': expected {form}, got {value!r:.80}")
    if allow_flat and all(_is_number(v) for v in value):
        value = [[v] for v in value]
    for i, row in enumerate(value):
        if not isinstance(row, (list, tuple)) or not row or not all(_is_number(v) for v in row):
            raise ValueError(f"{where}: key '{key}': expected {form}; row {i} is {row!r:.80}")
    lengths = [len(row) for row in value]
    if len(set(lengths)) != 1:
        raise ValueError(f"{where}: key '{key}': expected rows of equal length, "
                         f"got lengths {lengths}")
    return torch.tensor([[float(v) for v in row] for row in value], dtype=DTYPE)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def from_rows(x, y, where: str) -> tuple[Tensor, Tensor]:
    """Validated (x (N, d), y (N, out)) from rows of numbers; ``where`` prefixes every error."""
    xt = as_matrix(x, where, "x")
    yt = as_matrix(y, where, "y", allow_flat=True)
    if xt.shape[0] != yt.shape[0]:
        raise ValueError(f"{where}: keys 'x' and 'y': expected the same number of rows N, got "
                         f"{xt.shape[0]} rows in x and {yt.shape[0]} in y")
    return xt, yt


def load_dataset(path: str | Path) -> tuple[Tensor, Tensor]:
    """(x (N, d), y (N, out)) from a YAML, JSON or CSV file."""
    p = resolve(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return _load_csv(p)
    if suffix not in (".yaml", ".yml", ".json"):
        raise ValueError(f"{p}: unknown dataset format '{suffix}'; accepted: .yaml, .yml, .json, "
                         ".csv")
    if suffix == ".json":
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{p}: not valid JSON: {err}") from err
    else:
        data = read_yaml(p)
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping with keys 'x' and 'y', "
                         f"got {type(data).__name__}")
    missing, extra = {"x", "y"} - set(data), set(data) - _KEYS
    if missing:
        raise ValueError(f"{p}: missing key(s) {sorted(missing)}; 'x' is a list of N rows of d "
                         f"numbers, 'y' a list of N rows of output_dim numbers (or of N numbers)")
    if extra:
        raise ValueError(f"{p}: unknown key(s) {sorted(extra)}; accepted: {sorted(_KEYS)}")
    return from_rows(data["x"], data["y"], str(p))


def _load_csv(p: Path) -> tuple[Tensor, Tensor]:
    with p.open(newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        raise ValueError(f"{p}: empty; expected a header row naming columns x... and y...")
    header = [h.strip() for h in rows[0]]
    xcols = [i for i, h in enumerate(header) if h.startswith("x")]
    ycols = [i for i, h in enumerate(header) if h.startswith("y")]
    if not xcols or not ycols or len(xcols) + len(ycols) != len(header):
        raise ValueError(f"{p}: header {header}: expected column names starting with 'x' "
                         f"(inputs) or 'y' (outputs), at least one of each")
    values = []
    for line, row in enumerate(rows[1:], start=2):
        try:
            values.append([float(v) for v in row])
        except ValueError as err:
            raise ValueError(f"{p}: line {line}: expected {len(header)} numbers, "
                             f"got {row}") from err
        if len(row) != len(header):
            raise ValueError(f"{p}: line {line}: expected {len(header)} numbers, got {len(row)}")
    return from_rows([[r[i] for i in xcols] for r in values],
                     [[r[i] for i in ycols] for r in values], str(p))
