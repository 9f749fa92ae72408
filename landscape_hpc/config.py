"""Reading YAML configuration files into pydantic models with errors that name file and key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

M = TypeVar("M", bound=pydantic.BaseModel)


class ConfigError(ValueError):
    """Bad input: the message names the file, the key and the expected form."""


def format_validation_error(err: pydantic.ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-")) or "(top level)"
        got = e.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        lines.append(f"  {key}: {e['msg']}{shown}")
    return "\n".join(lines)


def read_yaml(path: str | Path) -> object:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None


def validate(model: type[M], data: object, source: str) -> M:
    """``model`` from ``data``; a ConfigError naming ``source`` and every bad key otherwise."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def load(model: type[M], path: str | Path) -> M:
    """Read a YAML file into ``model``."""
    return validate(model, read_yaml(path), str(path))
