"""Stability: N consecutive runs with random seeds give the same verdicts.

Each run draws a fresh seed (printed), runs every built-in group (helper x layer, all
families in one Hypothesis run, as the plugin does) of the given layers (default
packer,boundary; 100 examples each, no example database, a SkewedClock per run) against

* the zoo's safe packer (``tests.zoo.SAFE``) in contract mode: expected zero failures;
* real nova (``nova.objects.instance_action``) in contract mode: expected the same
  verdict every run (the set of failing property ids with their violated invariants).

Prints a markdown section; exit status 1 when a safe run fails or nova's verdict varies.
Usage: python benchmarks/stability.py [--runs 20] [--layers packer,boundary]
"""

from __future__ import annotations

import argparse
import random
import sys

from _common import fmt, now

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import builtin_groups, run_group
from pytest_actionsec.targets import resolve_target

NOVA = "nova.objects.instance_action"


def verdict(path: str, seed: int, layers: tuple[str, ...], mode: str) -> dict[str, frozenset[str]]:
    """Failing (or skipped) property id -> violated invariants, for one run."""
    target = resolve_target(path)
    rng = random.Random(seed)
    out: dict[str, frozenset[str]] = {}
    for group in builtin_groups(layers):
        with SkewedClock() as clock:
            run = run_group(
                group, target, mode=mode, seed=rng.randrange(2**32), clock=clock, database=None
            )
        for family in run.families:
            result = run.for_family(family)
            if result.status != "passed":
                out[result.property.id] = frozenset(
                    {v.invariant for v in result.violations} | {result.status}
                )
    return out


def show(v: dict[str, frozenset[str]]) -> str:
    return "; ".join(f"{k}: {','.join(sorted(s))}" for k, s in sorted(v.items())) or "(none)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--layers", default="packer,boundary")
    args = parser.parse_args()
    layers = tuple(args.layers.split(","))
    try:
        from tests.zoo import SAFE
    except ImportError:
        SAFE = None
    system = random.SystemRandom()
    rows = []
    safe_failures = 0
    nova_verdicts: dict[frozenset[tuple[str, frozenset[str]]], list[int]] = {}
    started = now()
    for run in range(args.runs):
        seed = system.randrange(2**32)
        t0 = now()
        safe = verdict(SAFE, seed, layers, "contract") if SAFE else {}
        t1 = now()
        nova = verdict(NOVA, seed, layers, "contract")
        t2 = now()
        safe_failures += bool(safe)
        nova_verdicts.setdefault(frozenset(nova.items()), []).append(seed)
        rows.append((run + 1, seed, show(safe), show(nova), t1 - t0, t2 - t1))
        print(f"run {run + 1}: seed {seed} safe={show(safe)} nova={show(nova)}", file=sys.stderr)
    print(f"### Stability: {args.runs} runs with random seeds (layers {','.join(layers)})\n")
    if SAFE is None:
        print("tests.zoo is missing: the safe packer was not run.\n")
    print(f"- safe packer ({SAFE}, contract): {safe_failures} run(s) with a failure")
    print(f"- nova ({NOVA}, contract): {len(nova_verdicts)} distinct verdict(s)")
    for key, seeds in nova_verdicts.items():
        print(f"  - {len(seeds)} run(s): {show(dict(key))}")
    print(f"- total {fmt(now() - started, 0)} s\n")
    print("| run | seed | safe verdict | nova verdict | safe s | nova s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {fmt(r[4], 1)} | {fmt(r[5], 1)} |")
    return 1 if safe_failures or len(nova_verdicts) > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
