"""The engines' BLAS limit: one thread inside (from the main thread), and the caller's setting
restored after, also when calls nest or overlap in threads. (Inside a call made from another thread
OpenBLAS may ignore the limit; see scalefit.threads.)"""

import threading
import time

import numpy  # noqa: F401  (loads the BLAS that the engines use)
from threadpoolctl import threadpool_info, threadpool_limits

from scalefit.threads import one_blas_thread


def blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@one_blas_thread
def slow_read(delay: float) -> list[int]:
    time.sleep(delay)
    return blas_threads()


@one_blas_thread
def nested_read() -> tuple[list[int], list[int]]:
    return blas_threads(), slow_read(0.0)


def test_limit_inside_and_restored_after_nested_and_overlapping_calls():
    with threadpool_limits(limits=2, user_api="blas"):       # the caller's own setting
        before = blas_threads()
        assert before and all(n == 2 for n in before)
        assert nested_read() == ([1] * len(before), [1] * len(before))
        assert blas_threads() == before
        seen = {}
        # A enters, B enters while A runs, A leaves while B runs, B leaves
        a = threading.Thread(target=lambda: seen.__setitem__("A", slow_read(0.2)))
        b = threading.Thread(target=lambda: (time.sleep(0.1), seen.__setitem__("B", slow_read(0.2))))
        a.start(); b.start(); a.join(); b.join()
        assert set(seen) == {"A", "B"}
        assert blas_threads() == before            # not left at 1 by the overlap


class FakeBlas:
    """A process-wide thread setting, changed the way threadpoolctl changes it."""

    def __init__(self, threads: int):
        self.threads = threads

    def limit(self, limits: int, user_api: str):
        blas = self

        class Limiter:
            def __init__(self):
                self.original = blas.threads
                blas.threads = limits

            def restore_original_limits(self):
                blas.threads = self.original

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.restore_original_limits()

        return Limiter()


def test_overlapping_calls_restore_the_callers_setting(monkeypatch):
    import scalefit.threads as threads

    blas = FakeBlas(4)
    monkeypatch.setattr(threads, "_controller", lambda: blas)

    @one_blas_thread
    def hold(delay: float) -> int:
        time.sleep(delay)
        return blas.threads

    seen = {}
    # A enters at 0 and leaves at 0.2; B enters at 0.1 (while A holds the limit) and leaves at 0.3
    a = threading.Thread(target=lambda: seen.__setitem__("A", hold(0.2)))
    b = threading.Thread(target=lambda: (time.sleep(0.1), seen.__setitem__("B", hold(0.2))))
    a.start(); b.start(); a.join(); b.join()
    assert seen == {"A": 1, "B": 1}
    assert blas.threads == 4
