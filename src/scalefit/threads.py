"""BLAS threads for scalefit's linear algebra.

The engines do many tiny matrix products and solves (5 x 240 by 240 x 5, 3 x 3), where a
multi-threaded BLAS only adds the cost of starting and waking its threads: one L(N, D) fit of the
240 Chinchilla runs took 22 ms with one BLAS thread and 23 to 120 ms, varying from call to call,
with two. The heavy functions therefore run with BLAS limited to one thread (threadpoolctl), and
the caller's setting is restored on return; cores are used by worker processes instead
(:func:`scalefit.uncertainty.map_chunks`).

Profile bands on long ladders are a different kind of work: large elementwise passes over blocks of
(profile point, exponent, run), during which numpy releases the GIL. :func:`map_blocks` shares such
blocks among threads (:func:`core_limit` caps them); each block is computed by the same code either
way, so the results do not depend on the number of threads.

Seen here (OpenBLAS 0.3.31, threadpoolctl 3.8): the limit takes effect for calls from the main
thread and in worker processes; set from another thread it can be ignored by OpenBLAS, so an engine
called from a thread may run with the caller's BLAS threads (same results, less steady timing).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from typing import Callable, Iterator, Sequence, TypeVar

F = TypeVar("F", bound=Callable)


def one_blas_thread(func: F) -> F:
    """Run ``func`` with BLAS limited to one thread.

    The limit is process-wide, so nested and concurrent calls (threads) share it: the outermost
    entry sets it and the last one out restores the caller's setting.
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _enter()
        try:
            return func(*args, **kwargs)
        finally:
            _leave()
    return wrapper  # type: ignore[return-value]


_lock = threading.Lock()
_state = {"depth": 0, "limiter": None}


def _reset_after_fork() -> None:
    """A forked worker starts with no call in progress (another thread of the parent may have held
    the lock at the fork)."""
    global _lock
    _lock = threading.Lock()
    _state.update(depth=0, limiter=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _enter() -> None:
    with _lock:
        if _state["depth"] == 0:
            _state["limiter"] = _controller().limit(limits=1, user_api="blas")
        _state["depth"] += 1


def _leave() -> None:
    with _lock:
        _state["depth"] -= 1
        if _state["depth"] == 0:
            _state["limiter"].restore_original_limits()
            _state["limiter"] = None


@functools.lru_cache(maxsize=1)
def _controller():
    """The BLAS libraries loaded in this process, found once (finding them takes about 1 ms). numpy's
    BLAS, the one the engines use, is loaded with numpy, before any engine runs; scipy brings its
    own (used by the L-BFGS-B finish and lmfit), loaded here first so that the limit covers it too
    whichever is imported first (every path that runs an engine imports scipy anyway)."""
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


# ----- block-parallel work on threads ---------------------------------------------------------------

THREADED_ELEMENTS = 1 << 22  # below about this many elements in all (tens of ms of work), one thread
_cores = {"limit": None}


@contextlib.contextmanager
def core_limit(workers: int | None) -> Iterator[None]:
    """Within the block, :func:`map_blocks` uses at most ``workers`` threads (None: all cores)."""
    before = _cores["limit"]
    _cores["limit"] = workers
    try:
        yield
    finally:
        _cores["limit"] = before


def map_blocks(work: Callable[[object], None], blocks: Sequence, elements: int) -> None:
    """Call ``work(block)`` for every block, on threads when the work is large (``elements`` in all
    above THREADED_ELEMENTS) and more than one core may be used. The blocks must write disjoint
    outputs; each is computed by the same code on any thread, so results do not depend on threads."""
    threads = min(len(blocks), _allowed_cores()) if elements > THREADED_ELEMENTS else 1
    if threads <= 1:
        for block in blocks:
            work(block)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(work, blocks):   # re-raises the first exception of any block
            pass


def _allowed_cores() -> int:
    return available_cores() if _cores["limit"] is None else max(1, int(_cores["limit"]))


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
