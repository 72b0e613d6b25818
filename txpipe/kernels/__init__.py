"""Numerical kernels used by the steps (no state, no I/O)."""
