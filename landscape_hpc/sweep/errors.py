"""pydantic validation errors as (setting path, message) pairs a researcher can act on."""

from __future__ import annotations

import typing
from typing import Any

import pydantic
from pydantic import BaseModel

from ..config import ConfigError


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def _tag(model: type[BaseModel]) -> Any:
    kind = model.model_fields.get("kind")
    args = typing.get_args(kind.annotation) if kind is not None else ()
    return args[0] if len(args) == 1 else None


def model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
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


def setting_path(raw: Any, loc: tuple) -> str:
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
        path = ".".join(p for p in (prefix, setting_path(raw, loc)) if p)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            owner = model_at(model, loc[:-1])
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


def validate(model: type[BaseModel], data: Any, source: str) -> Any:
    """``model`` from ``data``; a ConfigError naming ``source`` and every bad key otherwise."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        lines = [f"{source}: invalid sweep file"]
        lines += [f"  {path}: {msg}" for path, msg in describe(err, model, data)]
        raise ConfigError("\n".join(lines)) from None
