"""Loaded into the fork server of a run whose batches take the compiled kernels (`reprints.kernels`): the server
loads them once, and every worker it forks starts with them loaded instead of loading them itself (each worker
still decides which batches take them: a warm engine's take them all).

Loading must never stop the fork server: `load_ahead` reports a failure (the first batch that needs a kernel
loads it again and says why it cannot).
"""

from __future__ import annotations

from reprints.kernels import load_ahead, load_kernels

load_ahead(load_kernels)
