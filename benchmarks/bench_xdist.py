"""Benchmark: the default suite at ``-n 2`` versus ``-n 0``, interleaved in one run.

Each run is ``pytest --actionsec --actionsec-seed=SEED -p no:cacheprovider -q -n N
--actionsec-report=r.json`` (nova, default examples and layers) in a fresh empty
folder (no example database carried over), in the order n0, n2, n0, n2, ... so
that the machine's load falls on both alike. Prints each wall time, the ratio of
the medians (n2 / n0; the target is 0.7 or less on 2 cores) and whether every run
gave the same verdicts (property, status, examples) and findings as the first.
``--examples N`` passes ``--actionsec-examples=N`` to every run (the default suite's
is 100): with more examples per run the workers' fixed start-up and exit weigh less.
Also prints whether bytecode caching is off (``PYTHONDONTWRITEBYTECODE``): then every
process compiles the modules that have no installed bytecode (this checkout's) and
pytest assertion-rewrites its plugins' modules from source, paid by each worker and the
``-n 0`` process alike (Hypothesis's, 1.3 s or more per process, the plugin imports past
pytest's rewriter). ``--bytecode on`` runs every session without ``PYTHONDONTWRITEBYTECODE`` (as a
Python installed with its defaults does), after one warm-up session of each kind whose
time is not counted, so the caches are written first.
Usage: python benchmarks/bench_xdist.py [--pairs 2] [--seed 1] [--workers 2] [--examples N]
[--bytecode env|on]
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from _common import fmt, median, run_suite


def run(workers: int, seed: int, examples: int | None = None) -> tuple[float, int, Any]:
    """(wall seconds, exit code, (verdicts, findings)) of one session in an empty folder."""
    more = [] if examples is None else [f"--actionsec-examples={examples}"]
    options = [f"--actionsec-seed={seed}", *more, "-n", str(workers)]
    wall, code, report = run_suite(f"-n {workers}", *options)
    verdicts = [(p["id"], p["status"], p["examples"]) for p in report["properties"]]
    findings = [
        (v["invariant"], v["function"], v["layer"], v["field"]) for v in report["violations"]
    ]
    return wall, code, (verdicts, findings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--bytecode", choices=("env", "on"), default="env")
    args = parser.parse_args()
    if args.bytecode == "on":
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the sessions inherit this
        for workers in (0, args.workers):  # warm-up: write the caches, not counted
            run(workers, args.seed, args.examples)
    examples = "" if args.examples is None else f", --actionsec-examples={args.examples}"
    print(f"### xdist: the default suite at -n {args.workers} vs -n 0 (interleaved{examples})\n")
    bytecode = "off" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(
        f"cores: {os.cpu_count()}; load average before: {os.getloadavg()[0]:.2f}; "
        f"bytecode caching: {bytecode}\n"
    )
    walls: dict[int, list[float]] = {0: [], args.workers: []}
    first: Any = None
    same = True
    for pair in range(args.pairs):
        for workers in (0, args.workers):
            wall, code, outcome = run(workers, args.seed, args.examples)
            walls[workers].append(wall)
            if first is None:
                first = outcome
            elif outcome != first:
                same = False
            print(
                f"pair {pair + 1}: -n {workers}: {fmt(wall)} s, exit {code}, "
                f"{len(outcome[0])} properties, {len(outcome[1])} findings",
                flush=True,
            )
    n0, n2 = median(walls[0]), median(walls[args.workers])
    ratios = [b / a for a, b in zip(walls[0], walls[args.workers], strict=True)]
    print(
        f"\nmedian -n 0: {fmt(n0)} s; median -n {args.workers}: {fmt(n2)} s; "
        f"ratio {fmt(n2 / n0)} (per pair: {', '.join(fmt(r) for r in ratios)}; target <= 0.70)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"same verdicts, examples and findings in every run: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
