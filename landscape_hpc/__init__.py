"""landscape-hpc: gradient-flow sweeps over neural-network loss landscapes."""

__version__ = "0.1.0"
