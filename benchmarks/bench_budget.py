"""Benchmark 8: a wall time budget versus the same wall time at a fixed count per property.

For each zoo mutant (``tests.zoo.MUTANTS``, or ``--mutants``) the built-in suite on
layers packer and boundary (5 helper-layer runs, every family judged, contract mode, no
example database) runs twice in this process, as the plugin runs it:

- budget: ``--actionsec-budget=BUDGET`` (``run_group(seconds=)``; each run gets an
  equal share of the time left among the runs not started, and draws rounds of 100);
- fixed: ``--actionsec-examples=N`` with N the budget run's examples divided by the
  number of runs, so both spend about the same wall time (both are printed).

Each counts the examples a helper-layer run executed until its first one breaking an
invariant of the mutant's planted family (the probes included; the smallest over the
runs that catch it), and the distinct findings of that family. The ratio is fixed /
budget examples to the first failure (median over mutants; above 1: the budget run
gets there sooner).
Usage: python benchmarks/bench_budget.py [--budget 60] [--mutants m_leak_cause,...] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _common import fmt, median, now, table

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import builtin_groups, capture_logs, execute, run_group
from pytest_actionsec.oracle import Observation, judge
from pytest_actionsec.strategies import Call
from pytest_actionsec.targets import resolve_target

LAYERS = ("packer", "boundary")


def suite(path: str, family: str, seed: int, *, budget: float | None, examples: int) -> Any:
    """(wall seconds, examples run, examples to the first failure or None, findings)."""
    target = resolve_target(path)
    groups = builtin_groups(LAYERS)
    count = 0
    in_group = [0]
    first: int | None = None
    findings: set[tuple[Any, ...]] = set()
    started = now()
    with SkewedClock() as clock:

        def executor(call: Call) -> Observation:
            nonlocal count, first
            with capture_logs() as lines:
                obs = execute(target, call, clock=clock, logs=lines)
            count += 1
            in_group[0] += 1
            if judge(obs, [family]) and (first is None or in_group[0] < first):
                first = in_group[0]
            return obs

        for index, group in enumerate(groups):
            in_group[0] = 0
            share = None
            if budget is not None:  # the plugin's share: what is left over the runs not started
                share = max(budget - (now() - started), 0.0) / (len(groups) - index)
            result = run_group(
                group,
                target,
                max_examples=examples,
                seed=seed + index,
                clock=clock,
                database=None,
                executor=executor,
                seconds=share,
            )
            findings.update(v.key() for v in result.violations if v.family == family)
    return now() - started, count, first, len(findings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--mutants", default="", help="comma-separated zoo module names")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("### 8. Budget: examples to the first failure, time budget vs fixed count\n")
    try:
        import tests.zoo as zoo
    except ImportError:
        print("tests/zoo is missing (no tests.zoo.MUTANTS): nothing measured.\n")
        return 0
    mutants: dict[str, str] = dict(zoo.MUTANTS)
    if args.mutants:
        chosen = {f"tests.zoo.{name.strip()}" for name in args.mutants.split(",") if name}
        mutants = {m: f for m, f in mutants.items() if m in chosen}
    started = now()
    rows = []
    ratios: list[float] = []
    for module, family in mutants.items():
        b_secs, b_count, b_first, b_found = suite(
            module, family, args.seed, budget=args.budget, examples=100
        )
        fixed_n = max(1, round(b_count / len(builtin_groups(LAYERS))))
        f_secs, f_count, f_first, f_found = suite(
            module, family, args.seed, budget=None, examples=fixed_n
        )
        print(
            f"{module}: budget {b_secs:.1f}s {b_count} ex first {b_first} found {b_found}; "
            f"fixed N={fixed_n} {f_secs:.1f}s {f_count} ex first {f_first} found {f_found}",
            file=sys.stderr,
        )
        if b_first and f_first:
            ratios.append(f_first / b_first)
        rows.append(
            [
                module.rsplit(".", 1)[-1],
                family,
                f"{fmt(b_secs, 1)} s, {b_count}",
                str(b_first or "missed"),
                str(b_found),
                f"{fixed_n}: {fmt(f_secs, 1)} s, {f_count}",
                str(f_first or "missed"),
                str(f_found),
            ]
        )
    print(
        f"{len(mutants)} mutants; layers packer,boundary (5 runs, every family judged); "
        f"contract mode; seed {args.seed}; budget {fmt(args.budget, 0)} s; no database.\n"
    )
    print(
        table(
            [
                "mutant",
                "family",
                "budget: wall, examples",
                "to 1st failure",
                "findings",
                "fixed N per run: wall, examples",
                "to 1st failure",
                "findings",
            ],
            rows,
        )
    )
    if ratios:
        print(
            f"\nRatio fixed / budget examples to the first failure: median "
            f"{fmt(median(ratios))} (min {fmt(min(ratios))}, max {fmt(max(ratios))}, "
            f"{len(ratios)} mutants caught by both)."
        )
    print(f"Total {fmt(now() - started, 0)} s.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
