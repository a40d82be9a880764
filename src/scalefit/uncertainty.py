"""Bootstrap over runs: resample each family's runs with replacement and refit fully every time.

The resampled unit is a run. Every resample is refitted with the same global engine as the point
fit (all resamples at once, see :mod:`scalefit.fitting`). Refits that fail (too few distinct
compute values drawn, or a non-finite fit) are kept as failures and counted, never dropped silently.
Bands are percentile intervals taken from order statistics (no interpolation), so they stay well
defined when some draws are infinite (an unreachable loss).
"""

from __future__ import annotations

import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .fitting import ReadOnlyFields, fit_many
from .laws import Law
from .threads import available_cores

CHUNK = 1000  # resamples of a compute law fitted per engine call (fixed: results never depend on workers)
CHUNK_RUN_ROWS = 250_000  # at most this many (resample, run) pairs per call: about 20 MB per array


def resample_chunk(n_runs: int) -> int:
    """Resamples of a compute law fitted per engine call: CHUNK, fewer for long ladders so that
    memory stays bounded (1,000 resamples of 100,000 rows are 0.8 GB per array)."""
    return max(1, min(CHUNK, CHUNK_RUN_ROWS // max(n_runs, 1)))


def map_chunks(work: Callable, chunks: Sequence, workers: int = 1,
               progress: Callable[[int], None] | None = None, sizes: Sequence[int] | None = None) -> list:
    """``[work(c) for c in chunks]``, on up to ``workers`` processes.

    The chunks are fixed by the caller, never by the number of workers, and every chunk is computed
    by the same code either way, so the results are identical with 1 or N workers. ``progress`` is
    called with ``sizes[i]`` when chunk i is done (in completion order); ``work`` must be a module-
    level function (it is sent to the worker processes).
    """
    sizes = [1] * len(chunks) if sizes is None else list(sizes)
    workers = max(1, min(int(workers), len(chunks)))
    if workers == 1:
        out = []
        for chunk, size in zip(chunks, sizes):
            out.append(work(chunk))
            if progress is not None:
                progress(size)
        return out
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    out = [None] * len(chunks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(work, chunk): i for i, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            i = futures[future]
            out[i] = future.result()
            if progress is not None:
                progress(sizes[i])
    return out


def resolve_workers(workers: int | None, seconds_estimate: float) -> int:
    """``workers`` if given; otherwise all cores when the work is estimated to take more than about
    a second (below that, starting processes costs more than it saves), else 1."""
    if workers is not None:
        if int(workers) < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        return int(workers)
    return available_cores() if seconds_estimate > 1.0 else 1


@dataclass(frozen=True, eq=False)
class BootstrapFits(ReadOnlyFields):
    """Refits of B resamples of one family: ``params`` (B, p) in user units, NaN where ``ok`` is False."""

    family: str
    law: Law
    params: np.ndarray
    ok: np.ndarray

    @property
    def n_resamples(self) -> int:
        return int(self.ok.size)

    def __repr__(self) -> str:
        return (f"<BootstrapFits '{self.family}': {self.law.name} law, {self.n_resamples} resamples, "
                f"{self.n_failed} failed; .params is ({self.n_resamples}, {self.params.shape[1]})>")

    @property
    def n_failed(self) -> int:
        return int((~self.ok).sum())

    def param_band(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Percentile band of each parameter over the successful refits."""
        good = self.params[self.ok]
        bands = [percentile_band(good[:, j], level) for j in range(self.params.shape[1])]
        return np.array([b[0] for b in bands]), np.array([b[1] for b in bands])


def family_rng(seed: int, family: str) -> np.random.Generator:
    """A generator that depends on the seed and the family's name only, so adding or reordering
    families never changes another family's resamples."""
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng([int(seed), zlib.crc32(family.encode("utf-8"))])


def bootstrap_family(flops, loss, law: Law, n_resamples: int, seed: int, family: str,
                     progress: Callable[[int], None] | None = None, workers: int | None = None,
                     runs=None) -> BootstrapFits:
    """Refit ``law`` on ``n_resamples`` resamples (with replacement) of one family's runs.

    With ``runs`` (a label per row: rows of one label are checkpoints of one run) a resample draws
    whole runs, each with all its rows (:func:`draw_run_counts`); otherwise it draws rows.
    ``workers`` processes share the chunks of resamples (default: all cores when that pays); the
    result is the same for any number of workers.
    """
    flops = np.asarray(flops, dtype=float)
    loss = np.asarray(loss, dtype=float)
    n = flops.size
    rng = family_rng(seed, family)
    c_ref = float(np.exp(np.mean(np.log(flops))))
    counts = resample_count_chunks(rng, n, n_resamples, resample_chunk(n), runs)
    chunks = [(flops, loss, c, law, c_ref) for c in counts]
    workers = resolve_workers(workers, seconds_estimate=1.5e-8 * n_resamples * n * 160)
    results = map_chunks(_fit_chunk, chunks, workers, progress, sizes=[c.n_resamples for c in counts])
    ok = np.concatenate([r.ok for r in results]) if results else np.zeros(0, dtype=bool)
    params = (np.concatenate([r.params for r in results]) if results else np.zeros((0, law.n_params)))
    return BootstrapFits(family=family, law=law, params=np.where(ok[:, None], params, np.nan), ok=ok)


def _fit_chunk(chunk):
    flops, loss, counts, law, c_ref = chunk
    return fit_many(flops, loss, law, c_ref=c_ref, counts=counts.expand())


@dataclass(frozen=True)
class CountChunk:
    """How often each row is drawn in a chunk of resamples, stored small: ``drawn`` (m, k) counts of
    k units in the smallest unsigned integer type that holds them, and ``unit_of_row`` (n,) the unit
    each row belongs to (None when the units are the rows). :meth:`expand` gives the (m, n) float
    counts the engine takes; only one chunk's are ever held at that size (1,000 resamples of
    100,000 rows are 0.8 GB of float counts, 0.1 GB here, and a few kB when whole runs are drawn)."""

    drawn: np.ndarray
    unit_of_row: np.ndarray | None = None

    @property
    def n_resamples(self) -> int:
        return int(self.drawn.shape[0])

    def __len__(self) -> int:
        return self.n_resamples

    def expand(self) -> np.ndarray:
        counts = self.drawn if self.unit_of_row is None else self.drawn[:, self.unit_of_row]
        return counts.astype(float)


def resample_count_chunks(rng: np.random.Generator, n: int, n_resamples: int, size: int,
                          runs=None) -> list[CountChunk]:
    """The resamples of n rows, ``size`` at a time, as :class:`CountChunk` s: rows drawn with
    replacement, or with ``runs`` (a label per row) whole runs (:func:`draw_run_counts`). The draws
    are the generator's in order, so they equal one draw of all resamples at once."""
    if runs is None:
        return [CountChunk(smallest_unsigned(draw_counts(rng.integers(0, n, size=(m, n)), n)))
                for m in chunk_sizes(n_resamples, size)]
    drawn, run_of_row = draw_runs(rng, runs, n_resamples)
    return [CountChunk(part, run_of_row) for part in _split(smallest_unsigned(drawn), size)]


def chunk_sizes(total: int, size: int) -> list[int]:
    """Sizes of the chunks that cut ``total`` resamples ``size`` at a time (the last may be smaller)."""
    return [min(size, total - start) for start in range(0, total, size)]


def smallest_unsigned(counts: np.ndarray) -> np.ndarray:
    """Non-negative integer ``counts`` in the smallest unsigned type that holds their maximum."""
    top = int(counts.max()) if counts.size else 0
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(t).max)
    return counts.astype(dtype)


def draw_counts(index: np.ndarray, n: int) -> np.ndarray:
    """How often each of n runs is drawn in each resample: ``index`` (B, m) of run numbers gives
    counts (B, n). A resample's fit depends only on these counts, so it is computed on n runs."""
    rows = np.arange(index.shape[0])[:, None]
    flat = np.bincount((rows * n + index).ravel(), minlength=index.shape[0] * n)
    return flat.reshape(index.shape[0], n).astype(float)


def draw_run_counts(rng: np.random.Generator, runs, n_resamples: int) -> np.ndarray:
    """Counts (B, n) of resamples that draw whole runs: with ``runs`` a label per row, each
    resample draws as many runs as there are labels, with replacement, and a row counts as often
    as its run is drawn (a cluster bootstrap: the checkpoints of one run vary together, so the
    run, not the row, is the unit of resampling)."""
    drawn, run_of_row = draw_runs(rng, runs, n_resamples)
    return drawn[:, run_of_row]


def draw_runs(rng: np.random.Generator, runs, n_resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """How often each run is drawn in each resample, (B, runs), and the run of each row, (n,):
    ``runs`` a label per row, each resample drawing as many runs as there are, with replacement."""
    _, run_of_row = np.unique(np.asarray(runs), return_inverse=True)
    run_of_row = run_of_row.ravel()
    n_runs = int(run_of_row.max()) + 1 if run_of_row.size else 0
    return draw_counts(rng.integers(0, n_runs, size=(n_resamples, n_runs)), n_runs), run_of_row


def _split(index: np.ndarray, size: int) -> list[np.ndarray]:
    return [index[start:start + size] for start in range(0, index.shape[0], size)]


def percentile_band(values, level: float) -> tuple[float, float]:
    """Equal-tailed percentile band [q_(1-level)/2, q_(1+level)/2] of the non-NaN values.

    The lower end is the order statistic at or below its quantile and the upper end the one at or
    above it (conservative, and exact with infinite values). Returns (nan, nan) when no value is left.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    low = np.quantile(values, tail, method="lower")
    high = np.quantile(values, 1.0 - tail, method="higher")
    return float(low), float(high)
