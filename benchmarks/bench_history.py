"""Cost of the history machine per step against the store layer's cost per example.

    PYTHONPATH=. python benchmarks/bench_history.py [EXAMPLES]

CPU seconds (``time.process_time``: the machine shares its cores with others, so wall
time says little) of: the history machine on the paranoid store (no finding: search
only) and on nova 34 (search and the shrinking of its findings), per step; and of the
store layer of ``pack_action_event_finish`` (pack, write through nova's DB API, read
back, judge), per example, on in-process sqlite. Prints the ratios.
"""

from __future__ import annotations

import sys
import time

import _common  # noqa: F401  (puts the repository on sys.path, silences nova)

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import Property, run_property
from pytest_actionsec.history.run import run_history
from pytest_actionsec.store import Store
from pytest_actionsec.targets import resolve_target


def main(examples: int = 100) -> None:
    """Measure and print."""
    target = resolve_target()
    with Store.open() as store:
        run_history(store, "paranoid", max_examples=3, seed=0)  # nova's API loaded
        rows = []
        for history, n in (("paranoid", examples), ("nova", max(10, examples // 5))):
            c0 = time.process_time()
            r = run_history(store, history, max_examples=n, seed=5)
            cpu = time.process_time() - c0
            rows.append((history, n, r.sequences, r.steps, cpu, len(r.violations)))
        prop = Property("type", "pack_action_event_finish", "store")
        with SkewedClock() as clock:
            run_property(prop, target, max_examples=5, seed=0, clock=clock, store=store)
            c0 = time.process_time()
            found = run_property(
                prop, target, max_examples=examples, seed=5, clock=clock, store=store
            )
            store_cpu = time.process_time() - c0
    per_example = 1000 * store_cpu / max(found.examples, 1)
    print(
        f"store layer: {found.examples} examples, {store_cpu:.2f} s CPU, "
        f"{per_example:.2f} ms/example"
    )
    for history, n, sequences, steps, cpu, findings in rows:
        per_step = 1000 * cpu / max(steps, 1)
        print(
            f"history[{history}] max_examples={n}: {sequences} sequences, {steps} steps, "
            f"{cpu:.2f} s CPU, {per_step:.2f} ms/step = {per_step / per_example:.2f} x a "
            f"store example; {findings} finding(s)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
