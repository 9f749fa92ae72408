"""The terminal of the command line: ``console`` (stdout), ``err_console`` (stderr) and
:func:`fail`.

Its own module so that the commands of subpackages (:mod:`.aggregate.commands`) print through the
same consoles without importing :mod:`.cli`, which imports them to register them.
"""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """Print ``message`` as an error on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
