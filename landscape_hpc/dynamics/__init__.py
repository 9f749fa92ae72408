"""Trajectories: gradient flow, GD, Adam, SGD, Newton polish, stopping rules, records."""
