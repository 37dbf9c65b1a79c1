"""Benchmark 1: per-example cost of each built-in property against a bare ``@given`` test.

What is compared, in one process, interleaved (ours, bare, bare, ours, ...) per property:

ours
    ``engine.run_property(prop, nova, max_examples=N, seed=S, clock=<running
    SkewedClock>, database=None)``: our strategies (contexts with canaries, exception
    specs, ...), fresh inputs per example, the helper call with the time limit, log
    capture, global-state snapshots (input snapshots for purity only), and the
    oracle. Per-example cost = wall time / helper calls (shrinking calls included:
    a failing property is marked ``*``).
bare
    a plain Hypothesis test with the same settings as run_property (max_examples=N,
    the same seed, deadline=None, every health check suppressed, database=None,
    report_multiple_bugs=True, derandomize=False), in the same process, with the
    same running SkewedClock moved to a fixed time each example, calling the same
    helper (at the boundary layer through ``target.boundary_call()``) with trivial
    strategies: ``st.text()`` for instance_uuid, action/event name and the context's
    request_id/user_id/project_id, ``st.none()`` for host, exc_val and exc_tb; the
    context is nova's RequestContext built by ``target.make_context`` from those draws
    (timestamp fixed). No canaries, no oracle, no log capture, no snapshots. Per-example
    cost = wall time / helper calls.

ratio = ours / bare per example (goal: 1.5 or less). The split of our own cost comes
from timing, inside the same runs, ``engine.execute`` (building the inputs, the call,
snapshots), ``engine.judge`` (the oracle) and ``engine._globals_snapshot`` +
``engine._globals_restore`` (the purity.globals check, part of execute); the rest is
"generation": our strategies plus Hypothesis's own engine.

Usage: python benchmarks/bench_overhead.py [--examples 100] [--reps 3] [--layers packer,boundary]
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import defaultdict
from typing import Any

from _common import fmt, median, now, table
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from pytest_actionsec import engine
from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import Property, builtin_properties, run_property
from pytest_actionsec.targets import Target, resolve_target

FIXED = dt.datetime(2026, 11, 22, 12, 0, 0)
_ARGS: dict[str, tuple[tuple[str, str], ...]] = {
    "pack_action_start": (("instance_uuid", "text"), ("action_name", "text")),
    "pack_action_finish": (("instance_uuid", "text"),),
    "pack_action_event_start": (
        ("instance_uuid", "text"),
        ("event_name", "text"),
        ("host", "none"),
    ),
    "pack_action_event_finish": (
        ("instance_uuid", "text"),
        ("event_name", "text"),
        ("exc_val", "none"),
        ("exc_tb", "none"),
    ),
}
_POSITIONAL = {"instance_uuid", "action_name", "event_name"}


class Timers:
    """Accumulated seconds of the wrapped engine functions."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._originals: dict[str, Any] = {}

    def wrap(self, name: str) -> None:
        original = getattr(engine, name)
        self._originals[name] = original

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = now()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[name] += now() - t
                self.calls[name] += 1

        setattr(engine, name, timed)

    def unwrap(self) -> None:
        for name, original in self._originals.items():
            setattr(engine, name, original)


def bare_test(target: Target, prop: Property, clock: SkewedClock, n: int, seed: int) -> Any:
    invoke = target.boundary_call() if prop.layer == "boundary" else target.helpers[prop.function]
    assert invoke is not None
    spec = _ARGS[prop.function]
    box = {"calls": 0}
    kinds = {"text": st.text(), "none": st.none()}

    @settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        report_multiple_bugs=True,
        print_blob=False,
        derandomize=False,
    )
    @given(
        ids=st.tuples(st.text(), st.text(), st.text()),
        values=st.tuples(*(kinds[kind] for _, kind in spec)),
    )
    def bare(ids: tuple[str, str, str], values: tuple[Any, ...]) -> None:
        clock.move_to(FIXED)
        context = target.make_context(
            request_id=ids[0], user_id=ids[1], project_id=ids[2], timestamp=FIXED
        )
        args = [v for (name, _), v in zip(spec, values, strict=True) if name in _POSITIONAL]
        kwargs = {
            name: v for (name, _), v in zip(spec, values, strict=True) if name not in _POSITIONAL
        }
        box["calls"] += 1
        try:
            invoke(context, *args, **kwargs)
        except Exception:
            pass

    return hseed(seed)(bare), box


def measure_ours(
    target: Target, prop: Property, clock: SkewedClock, n: int, seed: int
) -> tuple[float, int, dict[str, float], str]:
    timers = Timers()
    for name in ("execute", "judge", "_globals_snapshot", "_globals_restore"):
        timers.wrap(name)
    try:
        t = now()
        result = run_property(prop, target, max_examples=n, seed=seed, clock=clock, database=None)
        total = now() - t
    finally:
        timers.unwrap()
    return total, max(result.examples, 1), dict(timers.spent), result.status


def measure_bare(
    target: Target, prop: Property, clock: SkewedClock, n: int, seed: int
) -> tuple[float, int]:
    test, box = bare_test(target, prop, clock, n, seed)
    t = now()
    test()
    return now() - t, max(box["calls"], 1)


def micro_globals(reps: int = 20000) -> float:
    """Microseconds per purity.globals snapshot + restore (nothing changed)."""
    t = now()
    for _ in range(reps):
        engine._globals_restore(engine._globals_snapshot())
    return (now() - t) / reps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--layers", default="packer,boundary")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    target = resolve_target()
    props = builtin_properties(layers=tuple(args.layers.split(",")))
    ours: dict[str, list[float]] = defaultdict(list)
    bare: dict[str, list[float]] = defaultdict(list)
    split: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    status: dict[str, str] = {}
    started = now()
    with SkewedClock() as clock:
        # warm up imports and caches once, outside the measurement
        measure_ours(target, props[0], clock, 5, 0)
        measure_bare(target, props[0], clock, 5, 0)
        for rep in range(args.reps):
            for i, prop in enumerate(props):
                seed = args.seed + rep
                order = ("ours", "bare") if (rep + i) % 2 == 0 else ("bare", "ours")
                for which in order:
                    if which == "ours":
                        total, calls, spent, st_ = measure_ours(
                            target, prop, clock, args.examples, seed
                        )
                        ours[prop.id].append(total / calls)
                        status[prop.id] = st_
                        execute = spent.get("execute", 0.0)
                        judge = spent.get("judge", 0.0)
                        # restore() takes its own snapshot: half the snapshot time is in it
                        glob = spent.get("_globals_snapshot", 0.0) / 2 + spent.get(
                            "_globals_restore", 0.0
                        )
                        split[prop.id]["generation"].append((total - execute - judge) / total)
                        split[prop.id]["execute"].append(execute / total)
                        split[prop.id]["oracle"].append(judge / total)
                        split[prop.id]["globals"].append(glob / total)
                        split[prop.id]["globals_us"].append(glob / calls * 1e6)
                    else:
                        total, calls = measure_bare(target, prop, clock, args.examples, seed)
                        bare[prop.id].append(total / calls)
        micro = median(micro_globals() for _ in range(5))
    rows = []
    ratios = []
    for prop in props:
        o, b = median(ours[prop.id]), median(bare[prop.id])
        ratio = median(x / y for x, y in zip(ours[prop.id], bare[prop.id], strict=True))
        ratios.append(ratio)
        s = {k: median(v) for k, v in split[prop.id].items()}
        rows.append(
            [
                prop.id + (" *" if status[prop.id] == "failed" else ""),
                fmt(o * 1e3),
                fmt(b * 1e3),
                fmt(ratio),
                f"{s['generation']:.0%}",
                f"{s['execute']:.0%}",
                f"{s['oracle']:.0%}",
                f"{s['globals']:.1%} ({s['globals_us']:.0f} us)",
            ]
        )
    print(f"### 1. Per-example cost: built-in properties vs a bare @given test (nova {_nova()})\n")
    print(
        f"{args.examples} examples per run, {args.reps} interleaved repetitions per property, "
        f"layers {args.layers}; medians. ratio = median over repetitions of ours/bare per "
        "example. Split = share of our wall time: generation (our strategies + Hypothesis), "
        "execute (inputs built, helper called, snapshots), oracle (judge), and within "
        "execute the purity.globals snapshot+restore. `*` = the property fails on nova "
        "(its calls include shrinking; run_property skips the explain phase).\n"
    )
    print(
        table(
            [
                "property",
                "ours ms/ex",
                "bare ms/ex",
                "ratio",
                "generation",
                "execute",
                "oracle",
                "purity.globals",
            ],
            rows,
        )
    )
    over = [r[0] for r, x in zip(rows, ratios, strict=True) if x > 1.5]
    print(
        f"\nratio: median {fmt(median(ratios))}, min {fmt(min(ratios))}, max {fmt(max(ratios))}; "
        f"{len(over)} of {len(ratios)} properties above the 1.5 goal"
        + (f" ({', '.join(over)})" if over else "")
    )
    print(
        f"\npurity.globals snapshot+restore alone (micro-benchmark, nothing changed): "
        f"{fmt(micro)} us per call. Total {fmt(now() - started, 0)} s.\n"
    )


def _nova() -> str:
    from importlib.metadata import version

    return version("nova")


if __name__ == "__main__":
    main()
