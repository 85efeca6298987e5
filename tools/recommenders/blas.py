"""One BLAS thread per process: implicit asks for it (it warns otherwise), and small
mat-vec products are 10x slower with two BLAS threads fighting over a busy core."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

_BLAS_PINNED = False


def pin_blas_threads() -> None:
    """Pin OpenBLAS/MKL to one thread for the whole process (idempotent, cheap after the
    first call). implicit asks for it (it warns otherwise) and small mat-vec products are
    10x slower with two BLAS threads fighting over a busy core. Called by the service and
    the CLI at start-up; :func:`one_blas_thread` calls it too."""
    global _BLAS_PINNED
    if _BLAS_PINNED:
        return
    threadpool_limits(1, "blas")
    _BLAS_PINNED = True


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """OpenBLAS/MKL pinned to one thread (implicit warns otherwise and runs slower)."""
    pin_blas_threads()
    yield
