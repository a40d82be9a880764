"""The engines' BLAS limit: one thread inside (from the main thread), and the caller's setting
restored after, also when calls nest or overlap in threads. (Inside a call made from another thread
OpenBLAS may ignore the limit; see scalefit.threads.)"""

import threading
import time

import numpy  # noqa: F401  (loads the BLAS that the engines use)
import scipy.linalg  # noqa: F401  (loads scipy's BLAS, which the limit covers too: as in every engine path)
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


# ----- block-parallel profile grids ------------------------------------------------------------

def test_map_blocks_runs_blocks_at_once_on_threads_only_when_allowed_and_large():
    """Large work on two allowed cores: two blocks run at the same time (they meet at a barrier,
    which one thread alone would never pass). Small work, or one allowed core: all in this thread."""
    from scalefit import threads

    barrier = threading.Barrier(2, timeout=10)
    with threads.core_limit(2):
        threads.map_blocks(lambda block: barrier.wait(), [0, 1], elements=threads.THREADED_ELEMENTS + 1)
    seen = []
    for limit, elements in ((1, threads.THREADED_ELEMENTS + 1), (2, 10)):
        with threads.core_limit(limit):
            threads.map_blocks(lambda block: seen.append(threading.get_ident()), range(4), elements=elements)
    assert set(seen) == {threading.get_ident()}


def test_profile_bands_are_the_same_on_one_or_two_threads(monkeypatch):
    """Profile bands of a long ladder (made long here by shrinking the block size: many blocks of
    grid points and of polishes) are identical, to the bit, whatever the number of threads."""
    import numpy as np

    from scalefit import fitting, profile, threads
    from scalefit.fitting import fit_law
    from scalefit.laws import SaturatingLaw

    monkeypatch.setattr(fitting, "ROW_BLOCK", 1 << 11)
    monkeypatch.setattr(profile, "ROW_BLOCK", 1 << 11)
    monkeypatch.setattr(threads, "THREADED_ELEMENTS", 0)
    flops = np.geomspace(1e19, 1e22, 40)
    law = SaturatingLaw()
    loss = law.predict(np.array([1.7, 4e3, 0.17]), flops) * np.exp(np.random.default_rng(5).normal(0, 0.01, 40))
    fit = fit_law(flops, loss, law)
    results = []
    for limit in (1, 2):
        with threads.core_limit(limit):
            low, high = profile.parameter_bands(fit, 0.95)
            deviance = profile.compute_deviance(fit, 2.3, 0.95)
        results.append(np.concatenate([low, high, deviance.grid, deviance.values]))
    np.testing.assert_array_equal(results[0], results[1])
