"""Benchmark 2: detection speed, examples until the first failure for each mutant of the zoo.

For every mutant in ``tests.zoo.MUTANTS`` (module -> planted family) and every seed,
each built-in property of that family (layers packer and boundary, contract mode,
100 examples, no example database) runs through ``engine.run_property`` with our own
executor: it executes the call as the engine does (``engine.execute`` with a running
SkewedClock and captured logs), counts the calls, judges the observation for the
family, and stops the property at the first violation (a BaseException Hypothesis
does not catch, so there is no shrinking). The mutant's count for that seed is the
smallest count among its family's properties (the property that catches it first);
a mutant no property catches within the budget counts as a miss (shown as ">100").

Goal: every mutant within 100 examples, median 20 or less.
Usage: python benchmarks/bench_detection.py [--seeds 1,2,3,4,5] [--examples 100]
"""

from __future__ import annotations

import argparse
import sys

from _common import fmt, median, now, table

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import builtin_properties, capture_logs, execute, run_property
from pytest_actionsec.oracle import Observation, judge
from pytest_actionsec.strategies import Call
from pytest_actionsec.targets import resolve_target


class _Caught(BaseException):
    """Stops run_property at the first violation (not an Exception: Hypothesis lets it out)."""

    def __init__(self, calls: int, invariants: set[str]) -> None:
        super().__init__(calls)
        self.calls = calls
        self.invariants = invariants


def first_failure(path: str, family: str, seed: int, examples: int) -> tuple[int | None, str]:
    """(calls until the first violation, property id) over the family's properties."""
    target = resolve_target(path)
    best: tuple[int | None, str] = (None, "")
    for prop in builtin_properties(layers=("packer", "boundary"), families=(family,)):
        count = 0
        with SkewedClock() as clock:

            def executor(call: Call) -> Observation:
                nonlocal count
                with capture_logs() as lines:
                    obs = execute(target, call, clock=clock, logs=lines)
                count += 1
                found = judge(obs, [family])
                if found:
                    raise _Caught(count, {v.invariant for v in found})
                return obs

            try:
                run_property(
                    prop,
                    target,
                    max_examples=examples,
                    seed=seed,
                    clock=clock,
                    database=None,
                    executor=executor,
                )
            except _Caught as caught:
                if best[0] is None or caught.calls < best[0]:
                    best = (caught.calls, f"{prop.id} ({','.join(sorted(caught.invariants))})")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--examples", type=int, default=100)
    args = parser.parse_args()
    print("### 2. Detection speed: examples until the first failure, per zoo mutant\n")
    try:
        import tests.zoo as zoo
    except ImportError:
        print("tests/zoo is missing (no tests.zoo.MUTANTS): nothing measured.\n")
        return 0
    mutants: dict[str, str] = dict(zoo.MUTANTS)
    gaps: dict[str, str] = dict(getattr(zoo, "KNOWN_GAPS", {}))
    seeds = [int(s) for s in args.seeds.split(",")]
    started = now()
    rows = []
    every: list[float] = []
    misses = 0
    gap_counts: list[float] = []
    for module, family in {**mutants, **gaps}.items():
        gap = module in gaps
        counts: list[float] = []
        caught_by: set[str] = set()
        for seed in seeds:
            calls, prop = first_failure(module, family, seed, args.examples)
            print(f"{module} seed {seed}: {calls} {prop}", file=sys.stderr)
            if calls is None:
                misses += not gap
                counts.append(float("inf"))
            else:
                counts.append(calls)
                caught_by.add(prop)
        (gap_counts if gap else every).extend(counts)
        shown = [">" + str(args.examples) if c == float("inf") else str(int(c)) for c in counts]
        rows.append(
            [
                module.rsplit(".", 1)[-1] + (" (known gap)" if gap else ""),
                family,
                " ".join(shown),
                _show(median(counts), args.examples),
                _show(max(counts), args.examples),
                "; ".join(sorted(caught_by)),
            ]
        )
    print(
        f"{len(mutants)} mutants (tests.zoo.MUTANTS) and {len(gaps)} known gaps "
        f"(tests.zoo.KNOWN_GAPS) x seeds {args.seeds}; budget {args.examples} examples per "
        "property; layers packer,boundary; contract mode.\n"
    )
    print(
        table(
            ["mutant", "family", "per seed", "median", "max", "caught first by"],
            rows,
        )
    )
    mutant_rows = [r for r in rows if not r[0].endswith("(known gap)")]
    print(
        f"\nMUTANTS, all {len(every)} (mutant, seed) runs: median "
        f"{_show(median(_finite(every, args.examples)), args.examples)}, "
        f"max {_show(max(every), args.examples)}, misses {misses}; "
        f"median of the per-mutant medians "
        f"{_show(median(_parse(r[3]) for r in mutant_rows), args.examples)}."
    )
    if gap_counts:
        caught = sum(c != float("inf") for c in gap_counts)
        print(
            f"KNOWN_GAPS: caught in {caught} of {len(gap_counts)} (mutant, seed) runs "
            "within the budget."
        )
    print(f"Total {fmt(now() - started, 0)} s.\n")
    return 0


def _finite(values: list[float], budget: int) -> list[float]:
    return [v if v != float("inf") else budget + 1 for v in values]


def _parse(text: str) -> float:
    return float("inf") if text.startswith(">") else float(text)


def _show(value: float, budget: int) -> str:
    if value == float("inf") or value > budget:
        return f">{budget}"
    return f"{value:g}"


if __name__ == "__main__":
    sys.exit(main())
