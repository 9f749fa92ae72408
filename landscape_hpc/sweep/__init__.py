"""Sweep files and the planner: grids of settings into tasks with stable ids, grouped into
work units.

>>> plan = plan_sweep("sweeps/quickstart.yaml")       # doctest: +SKIP
>>> plan.n_tasks, [t.id for t in plan.tasks()][:2]    # doctest: +SKIP
"""

from .ids import canonical, task_id
from .plan import plan_from_records, plan_sweep
from .source import SourceRecord
from .spec import Sweep, load_sweep
from .tasks import Group, Plan, Task, Unit

__all__ = ["Group", "Plan", "SourceRecord", "Sweep", "Task", "Unit", "canonical", "load_sweep",
           "plan_from_records", "plan_sweep", "task_id"]
