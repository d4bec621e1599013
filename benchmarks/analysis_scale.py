"""How much does the analysis cost on top of just counting the ratings?

Synthetic data: by default 10 million ratings over 10,000 units and 12 months (fixed seed),
with skewed unit sizes (log-normal: a few big district offices, many small communes) and real
differences between units (logit-normal satisfaction around the SIPAS level, a slow trend).

Measured in one run, each as the median of ``--repeats`` runs:

(a) the whole path: build the count table from the ratings (pandas ``groupby([unit, month,
    value]).size()``, i.e. what SQL ``GROUP BY`` does) and run ``satisfaction_table`` for the
    latest month with funnel limits, rank intervals and the change since the month before;
(b) the floor: the same bare ``groupby([unit, month, value]).size()`` over the same ratings,
    i.e. counting alone, without the analysis (target: (a) <= 2 x (b), so the whole analysis
    costs no more than one pass of counting);
(c) ``satisfaction_table`` alone, from the count table (target < 1 s for 10,000 units);
(d) the same with clustered ratings, as the app runs it: counts grouped by unit, month,
    service day and answer (one counter per unit, so a cluster is a unit's service day).
    The whole path against its own floor, the bare ``groupby([unit, month, day, value]).size()``
    (target <= 2); ``satisfaction_table(..., cluster="day")`` from the counts of the two months
    the page shows (what the app's query returns; target < 1 s), and from the counts of all
    twelve months (for information: ten times the rows).

For transparency it also prints the stricter one-key floor ``groupby(unit).size()`` and the
ratio against it, and the peak memory of the process. The ratings are plain integer columns
(unit id, month index, service day, answer 1-5), as a SQL or CSV load returns them.

    .venv/bin/python benchmarks/analysis_scale.py                      # full size
    .venv/bin/python benchmarks/analysis_scale.py --ratings 200000 --units 500
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.table import satisfaction_table  # noqa: E402

TARGETS = {"ratio": 2.0, "peak_gb": 2.0, "table_s": 1.0}


def make_ratings(n_ratings: int, n_units: int, n_months: int = 12, seed: int = 2026):
    """One row per rating: unit id, month index and answer (1..5) as plain small integers."""
    rng = np.random.default_rng(seed)
    # Unit sizes: log-normal with sigma 1.3, so the largest unit has a few hundred times the
    # ratings of the smallest; a share of units end up below min_n in a month.
    weight = rng.lognormal(0.0, 1.3, n_units)
    per_unit = rng.multinomial(n_ratings, weight / weight.sum())
    unit = np.repeat(np.arange(n_units, dtype=np.int32), per_unit)
    rng.shuffle(unit)  # ratings arrive interleaved in time, not sorted by unit
    month = rng.integers(0, n_months, n_ratings, dtype=np.int8)
    # True satisfaction per unit: logit-normal around 83 % (SIPAS 2023-24), sd 0.6 on the
    # logit scale; a small upward trend of 0.02 logits a month.
    logit = np.log(0.83 / 0.17) + 0.6 * rng.standard_normal(n_units).astype(np.float32)
    p = logit[unit] + np.float32(0.02) * month
    np.negative(p, out=p)
    np.exp(p, out=p)
    p += 1
    np.reciprocal(p, out=p)
    u = rng.random(n_ratings, dtype=np.float32)
    satisfied = u < p
    # Within "satisfied": 5 with probability 0.45, else 4; otherwise 3, 2, 1 with 0.6, 0.25, 0.15.
    v = rng.random(n_ratings, dtype=np.float32)
    code = np.where(
        satisfied,
        3 + (v < 0.45),
        2 - (v < 0.40).astype(np.int8) - (v < 0.15).astype(np.int8),
    ).astype(np.int8)  # 0-based level code: 0 → answer 1 … 4 → answer 5
    del p, u, v, satisfied
    code += 1  # answers 1..5
    # Service day within the month; ratings on one day are alike (a day effect of sd 0.5 on
    # the logit scale would need the day before the answer was drawn: here the clustering is
    # only in the counts' layout, which is what the cost depends on).
    day = rng.integers(0, 30, n_ratings, dtype=np.int8)
    return pd.DataFrame({"unit": unit, "month": month, "day": day, "value": code})


def month_labels(n_months: int) -> list[str]:
    return [str(pd.Period("2025-01", freq="M") + i) for i in range(n_months)]


def count_cells(ratings: pd.DataFrame) -> pd.Series:
    """The bare count: pandas ``groupby([unit, month, value]).size()`` (SQL ``GROUP BY``)."""
    return ratings.groupby(["unit", "month", "value"], sort=False).size()


def build_counts(ratings: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """The count table: the bare count, with month indices turned into period labels."""
    counts = count_cells(ratings).reset_index(name="count")
    counts["month"] = pd.Categorical.from_codes(counts["month"].to_numpy(), categories=months)
    return counts


def build_counts_two_months(ratings: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """The count table for the two months the page shows (SQL ``WHERE month IN (…)``)."""
    return build_counts(ratings[ratings["month"].to_numpy() >= len(months) - 2], months)


def two_months(ratings: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    return ratings[ratings["month"].to_numpy() >= len(months) - 2]


def count_cluster_cells(ratings: pd.DataFrame) -> pd.Series:
    """The bare clustered count: ``groupby([unit, month, day, value]).size()``."""
    return ratings.groupby(["unit", "month", "day", "value"], sort=False).size()


def build_cluster_counts(ratings: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    counts = count_cluster_cells(ratings).reset_index(name="count")
    counts["month"] = pd.Categorical.from_codes(counts["month"].to_numpy(), categories=months)
    return counts


def analyse(counts: pd.DataFrame, latest: str, previous: str, n_sims, ranks=True, cluster=None):
    return satisfaction_table(
        counts, "unit", period=latest, previous_period=previous, period_col="month",
        ranks=ranks, n_sims=n_sims, seed=0, cluster=cluster,
    )


def median_times(functions: dict, repeats: int) -> tuple[dict, dict]:
    """Median wall time of each function; the repeats are interleaved, so a burst of load on
    the machine hits every measurement alike rather than one of them. Each function runs once
    untimed first, and garbage is collected before each timed call, so that no measurement
    pays for the memory another one left behind."""
    times = {name: [] for name in functions}
    results = {name: function() for name, function in functions.items()}  # warm-up
    for _ in range(repeats):
        for name, function in functions.items():
            results[name] = None
            gc.collect()
            start = time.perf_counter()
            results[name] = function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=10_000_000)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--sims", type=int, default=None,
                        help="rank-interval draws (default: the table's own choice)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.months < 2:
        parser.error("--months must be at least 2 (the change needs a previous month)")

    start = time.perf_counter()
    ratings = make_ratings(args.ratings, args.units, args.months, args.seed)
    made = time.perf_counter() - start
    months = month_labels(args.months)
    latest, previous = months[-1], months[-2]
    print(
        f"synthetic data: {len(ratings):,} ratings, {args.units:,} units, {args.months} months "
        f"({ratings.memory_usage(deep=True).sum() / 2**20:.0f} MiB, made in {made:.1f} s)"
    )
    counts = build_counts(ratings, months)
    if int(counts["count"].sum()) != len(ratings):
        raise AssertionError("the count table does not add up to the ratings")

    sims = args.sims
    recent = two_months(ratings, months)
    cluster_counts = build_cluster_counts(ratings, months)
    recent_counts = build_cluster_counts(recent, months)
    median, results = median_times(
        {
            "floor": lambda: count_cells(ratings),
            "floor_1": lambda: ratings.groupby("unit", sort=False).size(),
            "build": lambda: build_counts(ratings, months),
            "table": lambda: analyse(counts, latest, previous, sims),
            "whole": lambda: analyse(build_counts(ratings, months), latest, previous, sims),
            # Where the time goes: the table without rank intervals, and the whole path
            # when the count query is limited to the two months the page shows.
            "no_ranks": lambda: analyse(counts, latest, previous, sims, ranks=False),
            "two_months": lambda: analyse(
                build_counts_two_months(ratings, months), latest, previous, sims
            ),
            # (d) clustered ratings, as the app runs it: two months, counter × day clusters.
            "floor_d": lambda: count_cluster_cells(ratings),
            "table_d": lambda: analyse(recent_counts, latest, previous, sims, cluster="day"),
            "table_d12": lambda: analyse(cluster_counts, latest, previous, sims, cluster="day"),
            "whole_d": lambda: analyse(build_cluster_counts(ratings, months), latest, previous,
                                       sims, cluster="day"),
            "two_months_d": lambda: analyse(build_cluster_counts(recent, months), latest,
                                            previous, sims, cluster="day"),
        },
        args.repeats,
    )

    # Peak memory: the process high-water mark, and what one traced run of (a) allocates.
    tracemalloc.start()
    analyse(build_counts(ratings, months), latest, previous, sims)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    table = results["table"]
    clustered = results["table_d"]
    ratio = median["whole"] / median["floor"]
    ratio_d = median["whole_d"] / median["floor_d"]
    print(
        f"count table: {len(counts):,} rows; latest month {latest}: "
        f"{int((table['n'] > 0).sum()):,} units with ratings, "
        f"{int(table['publishable'].sum()):,} publishable (n >= 30); "
        f"funnel adjustment: {table.attrs['adjustment']}; "
        + (f"rank intervals: {table.attrs['rank_draws']:,} draws, "
           f"median step {table.attrs['rank_step_median']:g}"
           if table.attrs.get("rank_note") is None else table.attrs["rank_note"])
    )

    def line(label, seconds, note=""):
        print(f"  {label:<58}{seconds:7.3f} s  {note}")

    print(f"median of {args.repeats} interleaved runs:")
    line("(b) floor: groupby([unit, month, value]).size()", median["floor"])
    line("    count table (the same, with period labels)", median["build"])
    line(f"(c) satisfaction_table from counts ({len(table):,} units)", median["table"],
         f"target < {TARGETS['table_s']:g} s")
    line("(a) count table + satisfaction_table", median["whole"])
    print(f"  {'ratio (a)/(b)':<58}{ratio:7.2f}    target <= {TARGETS['ratio']:g}")
    line("    stricter floor: one-key groupby(unit).size()", median["floor_1"],
         f"ratio (a)/that {median['whole'] / median['floor_1']:.2f} (for information)")
    print("where the time goes:")
    line("    (c) without rank intervals (ranks=False)", median["no_ranks"],
         f"-> rank intervals cost {median['table'] - median['no_ranks']:.3f} s")
    line("    (a) with the count query limited to the 2 months shown", median["two_months"],
         f"ratio {median['two_months'] / median['floor']:.2f}")
    print(f"clustered ratings ({len(cluster_counts):,} count rows, {len(recent_counts):,} for "
          f"the two months shown; median design effect {np.nanmedian(clustered['deff']):.2f}, "
          f"{int(clustered['publishable'].sum()):,} publishable):")
    line("(d) floor: groupby([unit, month, day, value]).size()", median["floor_d"])
    line("    count table + satisfaction_table(..., cluster='day')", median["whole_d"])
    print(f"  {'ratio (d)':<58}{ratio_d:7.2f}    target <= {TARGETS['ratio']:g}")
    line("    satisfaction_table from the two months' counts", median["table_d"],
         f"target < {TARGETS['table_s']:g} s")
    line("    satisfaction_table from all twelve months' counts", median["table_d12"],
         "(for information)")
    line("    count query limited to the 2 months shown + table", median["two_months_d"],
         f"ratio {median['two_months_d'] / median['floor_d']:.2f}")
    print(
        f"peak memory: process max RSS {max_rss / 2**30:.2f} GiB (synthetic data included); "
        f"traced allocations during (a) {traced_peak / 2**30:.2f} GiB; "
        f"target <= {TARGETS['peak_gb']:g} GB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
