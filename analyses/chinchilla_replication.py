"""Fit L(N, D) to the Chinchilla runs and compare with the published replication.

    python analyses/chinchilla_replication.py        # needs ../shared/reference-data (skips without it)

Data: Hoffmann et al. 2022, Figure 4 runs as digitised by Epoch AI (`svg_extracted_data.csv`, see
its PROVENANCE.md; read in place, never copied here). Selection as in Besiroglu et al. 2024, "Chinchilla
Scaling: A replication attempt": drop the 5 highest-loss rows, keeping 240; D = C / (6 N).
Fit: scalefit's chinchilla law (sum of Huber losses, delta 1e-3, on ln-loss residuals), 4,000
bootstrap resamples of runs (seeded), 95% percentile intervals. The published numbers below are
Besiroglu et al.'s estimates, standard errors and 95% bootstrap intervals from the PROVENANCE file.
Writes analyses/results/chinchilla_replication.md.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.analysis import analyze
from scalefit.chinchilla import ChinchillaLaw, allocation, huber

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SCALEFIT_REFERENCE_DATA", ROOT.parent / "shared" / "reference-data")) / \
    "chinchilla" / "svg_extracted_data.csv"
OUT = Path(__file__).resolve().parent / "results" / "chinchilla_replication.md"
RESAMPLES = 4000
SEED = 42

# Besiroglu et al. 2024 on the same 240 runs: estimate, standard error, 95% bootstrap interval.
PUBLISHED = {
    "E": (1.8172, 0.03, 1.769, 1.871),
    "A": (482.01, 124.58, 285.2, 743.6),
    "B": (2085.43, 1293.23, 1042.4, 5810.3),
    "alpha": (0.3478, 0.02, 0.317, 0.373),
    "beta": (0.3658, 0.02, 0.331, 0.415),
}
PUBLISHED_A_EXPONENT = (0.5126, 0.020)
# Hoffmann et al. 2022 Approach 3 (unrounded, from the paper's TeX source as quoted by Epoch).
HOFFMANN = (np.exp(0.5267228), np.exp(6.0073404), np.exp(6.0179186), 0.33917084, 0.2849083)


def chinchilla_runs(path: Path = DATA) -> pd.DataFrame:
    """The 240 runs Besiroglu et al. fit, as a ladder DataFrame."""
    raw = pd.read_csv(path)
    kept = raw.sort_values("loss").iloc[:-5]
    n = kept["Model Size"].to_numpy()
    c = kept["Training FLOP"].to_numpy()
    return pd.DataFrame({"family": "chinchilla", "params": n, "tokens": c / (6 * n), "loss": kept["loss"].to_numpy()})


def replication_table(runs: pd.DataFrame) -> tuple[str, dict]:
    result = analyze(runs, law="chinchilla", bootstrap=RESAMPLES, seed=SEED, band_method="percentile")
    ff = result.fits["chinchilla"]
    law: ChinchillaLaw = result.law
    draws = ff.draws.params[ff.draws.ok]
    lines = ["| parameter | scalefit | bootstrap s.e. | 95% interval | Besiroglu et al. | s.e. | 95% interval | difference in s.e. |",
             "|---|---|---|---|---|---|---|---|"]
    numbers = {}
    for j, name in enumerate(law.param_names):
        value, se = ff.fit.params[j], float(np.std(draws[:, j]))
        pub, pub_se, pub_lo, pub_hi = PUBLISHED[name]
        numbers[name] = (value, se, ff.low[j], ff.high[j])
        lines.append(f"| {name} | {value:.4g} | {se:.3g} | {ff.low[j]:.4g} - {ff.high[j]:.4g} | {pub:.4g} | "
                     f"{pub_se:.3g} | {pub_lo:.4g} - {pub_hi:.4g} | {(value - pub) / pub_se:+.2f} |")
    a_draws = allocation(draws, 1e24)["a"]
    a_value = float(allocation(ff.fit.params, 1e24)["a"])
    a_lo, a_hi = np.percentile(a_draws, [2.5, 97.5])
    lines.append(f"| a = beta/(alpha+beta) | {a_value:.4f} | {np.std(a_draws):.3f} | {a_lo:.3f} - {a_hi:.3f} | "
                 f"{PUBLISHED_A_EXPONENT[0]:.4f} | {PUBLISHED_A_EXPONENT[1]:.3f} | - | "
                 f"{(a_value - PUBLISHED_A_EXPONENT[0]) / PUBLISHED_A_EXPONENT[1]:+.2f} |")
    numbers["a"] = (a_value, float(np.std(a_draws)), a_lo, a_hi)
    n, d, loss = runs["params"].to_numpy(), runs["tokens"].to_numpy(), runs["loss"].to_numpy()

    def objective(p):
        return huber(np.log(loss) - np.log(law.predict_nd(np.asarray(p), n, d)), law.huber_delta).sum()

    published_point = [PUBLISHED[k][0] for k in law.param_names]
    numbers["objective"] = ff.fit.objective
    numbers["objective_published"] = objective(published_point)
    numbers["objective_hoffmann"] = objective(HOFFMANN)
    numbers["failed"] = ff.draws.n_failed
    lines += ["", "| parameters | objective: sum of Huber(1e-3) of ln-loss residuals, 240 runs |", "|---|---|",
              f"| scalefit fit | {numbers['objective']:.7f} |",
              f"| Besiroglu et al. (as published, rounded) | {numbers['objective_published']:.7f} |",
              f"| Hoffmann et al. Approach 3 | {numbers['objective_hoffmann']:.7f} |"]
    return "\n".join(lines), numbers


def main() -> int:
    if not DATA.exists():
        print(f"skipped: {DATA} is not here (set SCALEFIT_REFERENCE_DATA to the reference-data folder)")
        return 0
    start = time.time()
    runs = chinchilla_runs()
    table, numbers = replication_table(runs)
    text = (f"# Chinchilla replication ({len(runs)} runs, {RESAMPLES} bootstrap resamples, seed {SEED})\n\n"
            "Made by `python analyses/chinchilla_replication.py`. Data: Hoffmann et al. 2022 Fig. 4 runs as "
            "digitised by Epoch AI, 5 highest losses dropped as in Besiroglu et al. 2024. 'difference in s.e.' "
            "is (scalefit - published) / published standard error.\n\n" + table + "\n\n"
            f"Failed bootstrap refits: {numbers['failed']} of {RESAMPLES}. Run time: {time.time() - start:.0f} s.\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
