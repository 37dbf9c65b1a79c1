"""Benchmark 5: the default built-in suite against real nova, ``-n 0`` vs ``-n 2``.

Runs ``pytest --actionsec -p no:cacheprovider -q --actionsec-seed=S
--actionsec-report=r.json -n N`` (default layers packer,boundary,store, 100 examples,
contract mode) in a fresh empty temporary directory each time (no Hypothesis example
database carried over), alternating -n 0 and -n 2 (0, 2, 2, 0, ...). Reports the wall
time of each process, the ratio -n 2 / -n 0 (median over pairs), and examples per
second per layer from the JSON report (sum of the properties' examples / sum of their
"seconds"; under -n 2 the seconds are per worker).
Usage: python benchmarks/bench_suite.py [--pairs 1] [--seed 20261122]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import fmt, median, now, table


def command(seed: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "--actionsec",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--actionsec-seed={seed}",
        "--actionsec-report=r.json",
        "-n",
        str(workers),
    ]


def run(seed: int, workers: int) -> tuple[float, dict[str, Any], int]:
    with tempfile.TemporaryDirectory() as tmp:
        t = now()
        done = subprocess.run(
            command(seed, workers),
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        elapsed = now() - t
        path = Path(tmp) / "r.json"
        if not path.exists():
            raise SystemExit(f"no report:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return elapsed, json.loads(path.read_text()), done.returncode


def per_layer(report: dict[str, Any]) -> dict[str, tuple[int, float]]:
    out: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for p in report["properties"]:
        out[p["layer"]][0] += p["examples"]
        out[p["layer"]][1] += p.get("seconds", 0.0)
    return {k: (int(v[0]), v[1]) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    load_before = os.getloadavg()
    walls: dict[int, list[float]] = {0: [], 2: []}
    reports: dict[int, list[dict[str, Any]]] = {0: [], 2: []}
    codes: set[int] = set()
    for pair in range(args.pairs):
        for workers in (0, 2) if pair % 2 == 0 else (2, 0):
            elapsed, report, code = run(args.seed, workers)
            print(f"-n {workers}: {elapsed:.1f} s, exit {code}", file=sys.stderr)
            walls[workers].append(elapsed)
            reports[workers].append(report)
            codes.add(code)
    ratio = median(b / a for a, b in zip(walls[0], walls[2], strict=True))
    shown = " ".join(["pytest", *command(args.seed, 0)[3:-1]])
    rep0 = reports[0][0]
    failed = sorted(p["id"] for p in rep0["properties"] if p["status"] == "failed")
    print("### 5. Default built-in suite against real nova: -n 0 vs -n 2\n")
    print(
        f"`{shown} N` on {os.cpu_count()} CPUs; {len(rep0['properties'])} properties "
        f"(layers {','.join(rep0['layers'])}, {rep0['examples_per_property']} examples, "
        f"{rep0['mode']}); {args.pairs} pair(s) of runs; exit status {sorted(codes)} "
        f"(1 = findings: {', '.join(failed) or 'none'}).\n"
    )
    print(f"- wall time -n 0: {', '.join(fmt(w, 1) for w in walls[0])} s")
    print(f"- wall time -n 2: {', '.join(fmt(w, 1) for w in walls[2])} s")
    print(f"- ratio (-n 2)/(-n 0): {fmt(ratio)} (speed-up {fmt(1 / ratio)}x)")
    load = (
        ", ".join(fmt(x) for x in load_before)
        + " before; "
        + ", ".join(fmt(x) for x in os.getloadavg())
    )
    print(
        f"- load average (1, 5, 15 min): {load} after: with other jobs on the "
        "machine, -n 2 workers share the CPUs with them, so the ratio measures this "
        "machine at this time, not the plugin\n"
    )
    rows = []
    for workers in (0, 2):
        layers = per_layer(reports[workers][0])
        for layer, (examples, seconds) in sorted(layers.items()):
            rows.append(
                [f"-n {workers}", layer, str(examples), fmt(seconds, 1), fmt(examples / seconds, 0)]
            )
    print(table(["run", "layer", "examples", "seconds (sum)", "examples/s"], rows))
    same = all(
        sorted((p["id"], p["status"]) for p in r["properties"])
        == sorted((p["id"], p["status"]) for p in rep0["properties"])
        for r in reports[0] + reports[2]
    )
    print(f"\nSame verdicts in every run: {same}.\n")


if __name__ == "__main__":
    main()
