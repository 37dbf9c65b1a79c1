"""Benchmark 4: load cost of the plugin when installed but unused.

``pytest --co -q -p no:cacheprovider`` on a small generated suite (20 modules x 5
trivial tests, in a temporary directory), with the plugin (installed, not activated:
no --actionsec) and without it (``-p no:actionsec``). Runs alternate (with, without,
without, with, ...) as separate processes; ratio = median over pairs of with/without
wall time (goal: about 1.0).
Usage: python benchmarks/bench_load.py [--pairs 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import fmt, median, now

BASE = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
WITHOUT = [*BASE, "-p", "no:actionsec"]


def make_suite(root: Path) -> None:
    for m in range(20):
        body = "\n\n".join(f"def test_{m}_{t}():\n    assert {t} == {t}\n" for t in range(5))
        (root / f"test_mod{m:02d}.py").write_text(body)


def timed(cmd: list[str], cwd: Path) -> float:
    t = now()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = now() - t
    if done.returncode != 0 or "100 tests collected" not in done.stdout:
        raise SystemExit(f"{cmd} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_suite(root)
        timed(BASE, root), timed(WITHOUT, root)  # warm the page cache
        with_: list[float] = []
        without: list[float] = []
        for pair in range(args.pairs):
            for which in ("w", "o") if pair % 2 == 0 else ("o", "w"):
                if which == "w":
                    with_.append(timed(BASE, root))
                else:
                    without.append(timed(WITHOUT, root))
    pairs = [x / y for x, y in zip(with_, without, strict=True)]
    ratio = median(pairs)
    shown_with = " ".join(["pytest", *BASE[3:]])
    shown_without = " ".join(["pytest", *WITHOUT[3:]])
    print("### 4. Load cost when installed but unused (`pytest --co`)\n")
    print(
        f"Suite: 20 modules x 5 tests; {args.pairs} interleaved pairs of processes.\n\n"
        f"- with the plugin (`{shown_with}`): median {fmt(median(with_), 3)} s\n"
        f"- without (`{shown_without}`): median {fmt(median(without), 3)} s\n"
        f"- ratio with/without: median {fmt(ratio, 3)} "
        f"(pairs: min {fmt(min(pairs), 3)}, max {fmt(max(pairs), 3)})\n"
    )


if __name__ == "__main__":
    main()
