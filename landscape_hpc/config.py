"""Reading YAML configuration files into pydantic models with errors that name file and key.

Decisions:

- Every configuration model derives from :class:`Spec`: unknown keys are an error (a typo must
  not be ignored silently) and specs are frozen (a validated spec is shared, never edited).
- One strict YAML reader for sweep, problem and dynamics files and cluster profiles.  PyYAML
  (YAML 1.1) keeps the last of two equal keys silently and reads ``1e-3`` (no dot) as a string;
  :func:`read_yaml` refuses the first and reads the second as a float (as YAML 1.2 does).
- One validation helper, :func:`validate`: each bad setting is named by its dotted path in the
  file as written (union tags and list indices dropped), an unknown key with the keys accepted
  there, a bad value with the value given.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Hashable
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    """Base of every configuration model: unknown keys forbidden, instances frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """Bad input: the message names the file, the key and the expected form."""


# ---- strict YAML ------------------------------------------------------------------------------
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


class _Loader(_Base):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, Hashable) and key in seen:
                raise _DuplicateKey(f"line {line}: key '{key}' given twice (first on line "
                                    f"{seen[key]}); give each key once")
            if isinstance(key, Hashable):
                seen[key] = line
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def read_yaml(path: str | Path) -> object:
    """The YAML document in ``path``; ConfigError naming the file if missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 (a safe loader)
    except _DuplicateKey as err:
        raise ConfigError(f"{path}: {err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None


# ---- validation errors ------------------------------------------------------------------------
def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def _tag(model: type[BaseModel]) -> Any:
    kind = model.model_fields.get("kind")
    args = typing.get_args(kind.annotation) if kind is not None else ()
    return args[0] if len(args) == 1 else None


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class at ``loc`` inside ``model`` (tags of tagged unions and keys of mappings in
    ``loc`` are followed), or None where that is not one model."""
    i, keyed = 0, False
    while i < len(loc):
        key, i = loc[i], i + 1
        if isinstance(key, int) or (keyed and key not in model.model_fields):
            keyed = False
            continue
        if key not in model.model_fields:
            return None
        annotation = model.model_fields[key].annotation
        keyed = typing.get_origin(annotation) is dict
        members = _models(annotation)
        if len(members) > 1 and i < len(loc):
            tagged = [m for m in members if _tag(m) == loc[i]]
            members, i = (tagged, i + 1) if tagged else (members, i)
        if len(members) != 1:
            return None
        model = members[0]
    return model


def _written_path(raw: Any, loc: tuple) -> str:
    """The dotted path of ``loc`` in the raw data: union tags and list indices dropped."""
    out, node = [], raw
    for key in loc:
        if isinstance(node, dict) and key in node:
            out.append(str(key))
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
    return ".".join(out)


def describe(err: pydantic.ValidationError, model: type[BaseModel], raw: Any,
             prefix: str = "") -> list[tuple[str, str]]:
    """(setting path, message) for each error of validating ``raw`` as ``model``."""
    out = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not str(p).startswith("function-"))
        path = ".".join(p for p in (prefix, _written_path(raw, loc)) if p)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            if owner is not None:
                msg += f"; accepted keys: {', '.join(owner.model_fields)}"
        elif e["type"] == "missing" and loc:
            path = ".".join(p for p in (path, str(loc[-1])) if p)
        elif e["type"] == "model_type" and not loc:
            msg = f"expected a mapping with keys {', '.join(model.model_fields)}"
        elif e.get("input") is not None and not isinstance(e["input"], dict) and "got" not in msg:
            msg += f" (got {e['input']!r:.80})"
        out.append((path or "(top level)", msg))
    return out


def validate(model: type[M], data: object, source: str) -> M:
    """``model`` from ``data``; a ConfigError naming ``source`` and every bad key otherwise."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        lines = [f"{source}: invalid configuration"]
        lines += [f"  {path}: {msg}" for path, msg in describe(err, model, data)]
        raise ConfigError("\n".join(lines)) from None


def load(model: type[M], path: str | Path) -> M:
    """Read a YAML file into ``model``."""
    return validate(model, read_yaml(path), str(path))
