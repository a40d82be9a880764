"""BLAS threads for scalefit's linear algebra.

The engines do many tiny matrix products and solves (5 x 240 by 240 x 5, 3 x 3), where a
multi-threaded BLAS only adds the cost of starting and waking its threads: one L(N, D) fit of the
240 Chinchilla runs took 22 ms with one BLAS thread and 23 to 120 ms, varying from call to call,
with two. The heavy functions therefore run with BLAS limited to one thread (threadpoolctl), and
the caller's setting is restored on return; cores are used by worker processes instead
(:func:`scalefit.uncertainty.map_chunks`).
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def one_blas_thread(func: F) -> F:
    """Run ``func`` with BLAS limited to one thread."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _controller().limit(limits=1, user_api="blas"):
            return func(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _controller():
    """The BLAS libraries loaded in this process, found once (finding them takes about 1 ms; numpy's
    BLAS, the one the engines use, is loaded with numpy, before any engine runs)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
