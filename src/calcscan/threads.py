"""How many threads calcscan's own multithreaded kernels (``edt``) may use.

Cohort workers cap BLAS/OpenMP at one thread per process by setting ``OMP_NUM_THREADS=1``;
the distance transforms follow the same variable so that N workers use N cores, not 2N.
"""

from __future__ import annotations

import os

__all__ = ["kernel_threads"]


def kernel_threads(default: int = 2) -> int:
    """Threads for ``edt`` and similar kernels: ``$OMP_NUM_THREADS`` when set, else ``default``.

    Parameters
    ----------
    default : int
        Used when the variable is unset or not a positive integer (capped by the CPU count).
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    return max(1, min(default, os.cpu_count() or 1))
