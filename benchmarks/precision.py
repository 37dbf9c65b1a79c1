"""Precision: the paranoid correct packer gives no finding, in both modes at every layer.

For seeds 1..N (``--seeds``), makes every run of the built-in suite (one per function, and
event finish through the boundary; all families at every layer, 100 examples, no example
database, one SkewedClock per run as the plugin does: ``engine.run_pipeline``) of
``tests.zoo.paranoid`` in contract and hostile mode at the layers packer, boundary, store
and api (in-process sqlite, or ``--store URL``). Findings blamed on an input's own class
are counted apart (they never fail a run). Prints a markdown section; exit status 1
when any finding is reported against the packer.
Usage: python benchmarks/precision.py [--seeds 20] [--store URL]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from _common import fmt, now

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import builtin_runs, run_pipeline
from pytest_actionsec.oracle import FAMILIES
from pytest_actionsec.store import Store
from pytest_actionsec.targets import resolve_target

PARANOID = "tests.zoo.paranoid"
LAYERS = ("packer", "boundary", "store", "api")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    target = resolve_target(PARANOID)
    store = Store.open(args.store)
    findings: Counter[str] = Counter()
    noted: Counter[str] = Counter()
    rows = []
    started = now()
    try:
        for mode in ("contract", "hostile"):
            for seed in range(1, args.seeds + 1):
                t0 = now()
                own = 0
                for run in builtin_runs(LAYERS):
                    judged = dict.fromkeys(run.layers(), tuple(FAMILIES))
                    with SkewedClock() as clock:
                        result = run_pipeline(
                            target,
                            run,
                            judged,
                            mode=mode,
                            seed=seed,
                            clock=clock,
                            database=None,
                            store=store,
                        )
                    for v in result.violations:
                        key = f"{v.invariant} {v.function} {v.layer} {v.field or '-'}"
                        if v.blame:
                            noted[f"{key} ({v.blame})"] += 1
                        else:
                            findings[key] += 1
                            own += 1
                rows.append((mode, seed, own, now() - t0))
                print(f"{mode} seed {seed}: {own} finding(s)", file=sys.stderr)
    finally:
        store.close()
    print(f"### Precision: {PARANOID}, seeds 1-{args.seeds}, layers {','.join(LAYERS)}\n")
    for mode in ("contract", "hostile"):
        bad = sum(1 for m, _, n, _ in rows if m == mode and n)
        print(f"- {mode}: {bad} of {args.seeds} seeds with a finding")
    print(f"- findings against the packer: {sum(findings.values())}")
    for key, n in findings.most_common():
        print(f"  - {key}: {n}")
    print(f"- noted (caused by an input's own class, never failing): {sum(noted.values())}")
    for key, n in noted.most_common():
        print(f"  - {key}: {n}")
    print(f"- total {fmt(now() - started, 0)} s\n")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
