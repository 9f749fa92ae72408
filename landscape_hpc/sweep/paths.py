"""Settings of a task config addressed by dotted paths, and the short aliases of the common ones.

A task config is ``{problem: ..., dynamics: ..., seed: ...}`` (plus ``initial`` in sweeps that
start from a store); a path such as ``problem.net.widths`` names one setting in it.  An alias
stands for a path, and an alias may start a longer path (``target.scale`` is
``problem.target.scale``).
"""

from __future__ import annotations

from typing import Any

ROOTS = ("problem", "dynamics", "seed", "initial")

ALIASES: dict[str, str] = {
    "width": "problem.net.widths",  # one hidden layer: width 3 is widths [3]
    "widths": "problem.net.widths",
    "d": "problem.net.input_dim",
    "input_dim": "problem.net.input_dim",
    "output_dim": "problem.net.output_dim",
    "activation": "problem.net.activation",
    "biases": "problem.net.biases",
    "readout": "problem.net.fixed_readout",
    "target": "problem.target",
    "teacher": "problem.target.teacher",
    "teacher_width": "problem.target.teacher.width",
    "teacher_activation": "problem.target.teacher.activation",
    "inputs": "problem.inputs",
    "n": "problem.inputs.n",
    "samples": "problem.inputs.n",
    "convention": "problem.loss.convention",
    "maxnorm": "problem.loss.maxnorm",
    "init": "problem.init",
    "init_scale": "problem.init.scale",
    "method": "dynamics.method",
    "reltol": "dynamics.reltol",
    "abstol": "dynamics.abstol",
    "eta": "dynamics.eta",
    "maxtime": "dynamics.stop.maxtime",
    "maxsteps": "dynamics.stop.maxsteps",
    "patience": "dynamics.stop.patience",
    "min_loss": "dynamics.stop.min_loss",
}


class UnknownSetting(ValueError):
    """A key that is neither an alias nor a path into the task config."""


def resolve(key: str) -> str:
    """The dotted path a key names (an alias, an alias followed by ``.rest``, or a path)."""
    head, _, rest = str(key).partition(".")
    if head in ALIASES:
        return ALIASES[head] + ("." + rest if rest else "")
    if head in ROOTS and not (head == "seed" and rest) and all(key.split(".")):
        return key
    raise UnknownSetting(
        f"unknown setting '{key}': give a dotted path into the task config starting with "
        f"{', '.join(r + '.' for r in ROOTS if r != 'seed')} or 'seed', or one of the aliases "
        f"{', '.join(ALIASES)}")


def parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def covers(outer: str, inner: str) -> bool:
    """Whether setting ``outer`` contains ``inner`` (or is it)."""
    return inner == outer or inner.startswith(outer + ".")


def get(tree: dict, path: str) -> Any:
    """The value at ``path`` in a nested dict; KeyError if absent."""
    node: Any = tree
    for p in parts(path):
        if not isinstance(node, dict) or p not in node:
            raise KeyError(path)
        node = node[p]
    return node


def lookup(tree: dict, name: str) -> Any:
    """The value of the setting ``name`` (alias or path) in a task config, as written; the alias
    ``width`` reads ``widths: [3]`` as 3.  KeyError if absent, UnknownSetting if no setting."""
    value = get(tree, resolve(name))
    if name == "width" and isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


def assign(tree: dict, path: str, value: Any) -> dict:
    """A copy of ``tree`` with ``value`` at ``path``; only the dicts along the path are copied.

    ValueError if the path runs through a value that is not a mapping.
    """
    keys = parts(path)
    out = dict(tree)
    node = out
    for i, p in enumerate(keys[:-1]):
        child = node.get(p, {})
        if not isinstance(child, dict):
            raise ValueError(f"cannot set '{path}': '{'.'.join(keys[:i + 1])}' is {child!r}, "
                             "not a mapping")
        node[p] = dict(child)
        node = node[p]
    node[keys[-1]] = value
    return out


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into ``{dotted path: value}``; lists and empty mappings are leaves."""
    if not isinstance(tree, dict) or (not tree and prefix):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    return out
