"""Execution backends: where work units run."""
