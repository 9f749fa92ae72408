"""A plan as text for the terminal (rich): counts, values per axis, groups and work units."""

from __future__ import annotations

from rich.console import Group as Lines
from rich.table import Table
from rich.text import Text

from .tasks import Plan, seed_runs, show

MAX_GROUP_ROWS = 40


def render(plan: Plan) -> Lines:
    s = plan.sweep
    head = f"{s.name}  ({s.file}" + (f", profile {s.profile}" if s.profile else "") + ")"
    lines: list = [Text(head, style="bold")]
    if s.description:
        lines.append(Text(s.description.strip()))
    if s.source is not None and plan.groups:
        lines.append(Text(f"starts from store {s.source.store}: tasks planned from its records"))
    elif s.source is not None:
        per = ("depends on the source tasks" if plan.per_source is None
               else str(plan.per_source))
        lines.append(Text(f"starts from store {s.source.store}: {per} task(s) per selected source "
                          "task (planned from the store's records)"))
    if s.source is None or plan.groups:
        size = s.unit_size
        lines.append(Text(f"{plan.n_tasks} tasks in {len(plan.groups)} groups (equal but for the "
                          f"seed), {len(plan.units())} work units of up to {size} tasks (unit k of "
                          f"a group: its seeds in [k*{size}, (k+1)*{size}))"))
    if plan.duplicates:
        lines.append(Text(f"{plan.duplicates} duplicate task(s) planned once"))
    per = "per selected source task" if s.source is not None and not plan.groups else ""
    axes = Table(title=f"values per axis (tasks{' ' + per if per else ''})", title_justify="left")
    for col in ("axis", "setting", "values"):
        axes.add_column(col)
    for a in plan.axes:
        values = ", ".join(f"{show(v)} ({n})" for v, n in a.counts.values())
        axes.add_row(a.key, ", ".join(a.paths), values)
    seeds = plan.seed_summary()
    if plan.groups:
        lo, hi = seeds["per_group"]
        axes.add_row("seed", "seed", f"{seeds['min']}..{seeds['max']}; "
                     f"{lo if lo == hi else f'{lo} to {hi}'} per group")
    lines.append(axes)
    if plan.groups:
        groups = Table(title="groups and work units", title_justify="left")
        for col in ("group", "settings", "tasks", "units", "seeds"):
            groups.add_column(col, justify="right" if col in ("tasks", "units") else "left")
        for g in plan.groups[:MAX_GROUP_ROWS]:
            runs = seed_runs(g.seeds)
            text = ", ".join(f"{a}..{b - 1}" if b - a > 1 else str(a) for a, b in runs[:3])
            text += f", ... ({len(runs)} runs)" if len(runs) > 3 else ""
            groups.add_row(g.id, ", ".join(f"{k}={show(v)}" for k, v in g.settings.items()),
                           str(len(g.seeds)), str(len(g.units(s.unit_size))), text)
        if len(plan.groups) > MAX_GROUP_ROWS:
            groups.add_row("...", f"{len(plan.groups) - MAX_GROUP_ROWS} more groups (--json "
                                  "lists all)", "", "", "")
        lines.append(groups)
    for w in plan.warnings:
        lines.append(Text(f"warning: {w}", style="yellow"))
    if s.profiles and s.profile is None:
        lines.append(Text(f"profiles: {', '.join(s.profiles)} (--scale NAME)"))
    return Lines(*lines)

