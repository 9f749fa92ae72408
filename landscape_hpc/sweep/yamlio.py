"""YAML for sweep files: keys given twice are an error, and ``1e-3`` is a number.

PyYAML (YAML 1.1) keeps the last of two equal keys silently and reads ``1e-3`` (no dot) as a
string; a sweep file with an axis given twice or a tolerance written ``1e-6`` must not be
misread, so this loader refuses the first and reads the second as a float (as YAML 1.2 does).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path

import yaml

from ..config import ConfigError

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


def read(path: str | Path) -> object:
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
