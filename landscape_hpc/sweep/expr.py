"""Small, safe expressions over the settings of a task: ``50 * 2**width``, ``activation == 'relu'``.

Python syntax restricted to literals, names, ``+ - * / // % **``, comparisons (``in`` too),
``and or not``, ``x if c else y``, lists, indexing (``widths[0]``, ``target['kind']``) and the
functions ``min max abs round int float len sqrt``.  A name (``width``) or dotted name
(``target.kind``, ``problem.net.input_dim``) is looked up by the caller, so a sweep resolves it as
a setting of the task being built.  ``inf`` and ``pi`` are constants.

Results enter task ids, so they must not depend on the platform: ``+ - * /`` and ``sqrt`` are
correctly rounded (IEEE 754) everywhere, integer powers are exact; no other maths functions.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

FUNCTIONS: dict[str, Callable] = {
    "min": min, "max": max, "abs": abs, "round": round, "int": int, "float": float, "len": len,
    "sqrt": math.sqrt,
}
CONSTANTS = {"inf": math.inf, "pi": math.pi}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_MAX_EXPONENT = 1024


class ExpressionError(ValueError):
    """An expression that does not parse, or fails when evaluated."""


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes over a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


class Expression:
    """A parsed expression; call it with a lookup function for names."""

    def __init__(self, text: str):
        self.text = str(text)
        try:
            self._tree = ast.parse(self.text.strip(), mode="eval").body
        except SyntaxError as err:
            raise ExpressionError(f"expression '{self.text}' does not parse: {err.msg}") from None
        names: list[str] = []
        self._check(self._tree, names)
        self.names = tuple(dict.fromkeys(n for n in names if n not in CONSTANTS))

    def _check(self, node: ast.AST, names: list[str]) -> None:
        dotted = _dotted(node)
        if dotted is not None:
            names.append(dotted)
            return
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS) or node.keywords:
                raise ExpressionError(f"expression '{self.text}': calls only "
                                      f"{', '.join(FUNCTIONS)} with positional arguments")
            children = node.args
        elif isinstance(node, ast.Constant):
            children = []
        elif isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
                               ast.List, ast.Tuple, ast.Subscript)):
            ops = [getattr(node, "op", None)] + list(getattr(node, "ops", []))
            allowed = (*_BINARY, *_COMPARE, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or)
            if any(op is not None and not isinstance(op, allowed) for op in ops):
                raise ExpressionError(f"expression '{self.text}': operator not allowed")
            children = [c for c in ast.iter_child_nodes(node) if not isinstance(c, (
                ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.expr_context))]
        else:
            raise ExpressionError(f"expression '{self.text}': '{type(node).__name__}' is not "
                                  "allowed (only arithmetic, comparisons, and/or/not, if-else, "
                                  "lists, indexing and a few functions)")
        for child in children:
            self._check(child, names)

    def __call__(self, lookup: Callable[[str], Any]) -> Any:
        try:
            return self._eval(self._tree, lookup)
        except ExpressionError:
            raise
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as err:
            raise ExpressionError(f"expression '{self.text}' failed: "
                                  f"{type(err).__name__}: {err}") from None

    def _eval(self, node: ast.AST, lookup: Callable[[str], Any]) -> Any:
        dotted = _dotted(node)
        if dotted is not None:
            return CONSTANTS[dotted] if dotted in CONSTANTS else lookup(dotted)
        ev = lambda n: self._eval(n, lookup)  # noqa: E731
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
                raise ExpressionError(f"expression '{self.text}': exponent {right} too large")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return not v if isinstance(node.op, ast.Not) else (-v if isinstance(node.op, ast.USub)
                                                                else +v)
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            for value in node.values:
                v = ev(value)
                if bool(v) != is_and:
                    return v
            return v
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return ev(node.body) if ev(node.test) else ev(node.orelse)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.Subscript):
            return ev(node.value)[ev(node.slice)]
        return FUNCTIONS[node.func.id](*(ev(a) for a in node.args))  # ast.Call, checked above
