"""The shipped examples/ci baselines hold: no new finding over random seeds.

For each mode, ``--seeds`` runs of the built-in suite on unchanged nova (all four
layers, in-process sqlite, ``--examples`` per property, as ``tox -e actionsec`` runs it
but each run in a fresh empty folder with its own Hypothesis database and ``-n
--workers``), each with a fresh random seed (printed) and
``examples/ci/actionsec-baseline-<mode>.json``. Prints per seed the count of new
findings (neither accepted nor noted) and each new one's (invariant, helper, layer,
field); exit status 1 when a run has one. The runs are made by
``examples/ci/make_baselines.py``'s ``run_suite``.

Usage: python benchmarks/baseline_holds.py [--seeds 10] [--modes contract,hostile]
[--examples 100] [--jobs 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / "examples" / "ci"


def _make_baselines() -> Any:
    spec = importlib.util.spec_from_file_location("make_baselines", CI / "make_baselines.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--modes", default="contract,hostile")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--workers", type=int, default=0, help="pytest -n (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    args = parser.parse_args()
    mb = _make_baselines()
    rng = random.SystemRandom()
    failed = 0
    for mode in args.modes.split(","):
        baseline = CI / f"actionsec-baseline-{mode}.json"
        seeds = [rng.randrange(2**32) for _ in range(args.seeds)]

        def run(seed: int, mode: str = mode, baseline: Path = baseline) -> dict[str, Any]:
            return dict(
                mb.run_suite(
                    mode, seed, examples=args.examples, baseline=baseline, workers=args.workers
                )
            )

        with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            for seed, report in zip(seeds, pool.map(run, seeds), strict=True):
                new = sorted(
                    {
                        (v["invariant"], v["function"], v["layer"], v.get("field") or "-")
                        for v in report["violations"]
                        if not v["accepted"] and not v.get("noted")
                    }
                )
                accepted = sum(1 for v in report["violations"] if v["accepted"])
                print(
                    f"{mode} seed {seed}: {len(new)} new finding(s), {accepted} accepted"
                    + "".join(f"\n    new: {' '.join(k)}" for k in new),
                    flush=True,
                )
                failed += bool(new)
    print(f"baseline_holds: {failed} run(s) with new findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
