"""Benchmark 3: the skewed clock moved per example vs one freezegun freeze per example.

With nova imported (``resolve_target()`` loads nova's instance_action, context,
exception and objects modules: ~2,000 modules for freezegun to scan), one "test" of
E examples costs

skewed
    ``SkewedClock().start()`` once, then per example ``clock.move_to(t)`` and one
    ``timeutils.utcnow()`` read, then ``stop()`` (what the plugin does);
freeze
    per example ``freeze_time(t, ignore=IGNORED_MODULES).start()``, one
    ``timeutils.utcnow()`` read, ``stop()``.

Blocks alternate (skewed, freeze, freeze, skewed, ...) in one process; ratio =
median over blocks of freeze / skewed per example.
Usage: python benchmarks/bench_clock.py [--examples 100] [--blocks 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import freezegun
from _common import fmt, median, now

from pytest_actionsec.clock import IGNORED_MODULES, SkewedClock
from pytest_actionsec.targets import resolve_target

BASE = dt.datetime(2026, 11, 22, 12, 0, 0)


def skewed(examples: int) -> float:
    from oslo_utils import timeutils

    t = now()
    clock = SkewedClock(BASE).start()
    for i in range(examples):
        clock.move_to(BASE + dt.timedelta(seconds=i))
        timeutils.utcnow()
    clock.stop()
    return (now() - t) / examples


def freeze(examples: int) -> float:
    from oslo_utils import timeutils

    t = now()
    for i in range(examples):
        freezer = freezegun.freeze_time(
            BASE + dt.timedelta(seconds=i), ignore=list(IGNORED_MODULES)
        )
        freezer.start()
        timeutils.utcnow()
        freezer.stop()
    return (now() - t) / examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=8)
    args = parser.parse_args()
    resolve_target()  # nova imported
    skewed(5), freeze(2)  # warm up
    a: list[float] = []
    b: list[float] = []
    for block in range(args.blocks):
        for which in ("s", "f") if block % 2 == 0 else ("f", "s"):
            (a if which == "s" else b).append(
                skewed(args.examples) if which == "s" else freeze(args.examples)
            )
    ratio = median(y / x for x, y in zip(a, b, strict=True))
    print("### 3. Skewed clock moved per example vs one freezegun freeze per example\n")
    print(
        f"nova imported ({len(sys.modules)} modules loaded); {args.examples} examples per block, "
        f"{args.blocks} interleaved blocks of each.\n"
    )
    print(
        f"- SkewedClock (start once, move_to per example): {fmt(median(a) * 1e6, 1)} us per example"
    )
    print(f"- freeze_time start/stop per example: {fmt(median(b) * 1e3, 2)} ms per example")
    print(f"- ratio freeze / skewed: {fmt(ratio, 0)}x\n")


if __name__ == "__main__":
    main()
