"""Benchmark: ``--actionsec-budget`` is the session's wall time, at ``-n 0`` and ``-n 2``.

Each run is ``pytest --actionsec --actionsec-budget=Bs --actionsec-seed=SEED -p
no:cacheprovider -q -n N`` (nova, default layers and examples) in a fresh empty
folder, timed from the process start to its exit; budgets and worker counts are
interleaved. Prints each wall time and its overrun ratio (wall / budget; the
target is 1.10 or less) and the examples the session drew.
Usage: python benchmarks/bench_budget_deadline.py [--budgets 20,40] [--workers 0,2] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import sys

from _common import fmt, run_suite


def run(budget: float, workers: int, seed: int) -> tuple[float, int, int]:
    """(wall seconds, exit code, examples drawn) of one session in an empty folder."""
    wall, code, report = run_suite(
        f"budget {budget:g}s -n {workers}",
        f"--actionsec-budget={budget:g}s",
        f"--actionsec-seed={seed}",
        "-n",
        str(workers),
    )
    runs = {(p["function"], p["layer"]): p["examples"] for p in report["properties"]}
    return wall, code, sum(runs.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="20,40", help="seconds, comma-separated")
    parser.add_argument("--workers", default="0,2", help="xdist -n values, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",") if b]
    workers = [int(n) for n in args.workers.split(",") if n]
    print("### The budget is the session's wall time (overrun = wall / budget)\n")
    print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()[0]:.2f}\n")
    worst = 0.0
    for budget in budgets:
        for n in workers:
            wall, code, examples = run(budget, n, args.seed)
            worst = max(worst, wall / budget)
            print(
                f"budget {budget:g} s, -n {n}: wall {fmt(wall)} s, overrun {fmt(wall / budget)}, "
                f"exit {code}, {examples} examples",
                flush=True,
            )
    print(
        f"\nworst overrun {fmt(worst)} (target <= 1.10); load average after: "
        f"{os.getloadavg()[0]:.2f}"
    )
    return 0 if worst <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
