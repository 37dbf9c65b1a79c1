"""Helpers shared by the benchmark scripts (run from the repository root)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.zoo and tests.robust_targets are imported by path
    sys.path.insert(0, str(ROOT))

warnings.simplefilter("ignore")  # nova's import-time noise

#: The real clock, kept in a tuple so freezegun (which rebinds module attributes that
#: hold time.perf_counter) leaves it alone while a SkewedClock is running.
CLOCK = (time.perf_counter,)


def now() -> float:
    """Real seconds (never frozen)."""
    return CLOCK[0]()


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run_suite(label: str, *options: str) -> tuple[float, int, dict[str, Any]]:
    """(wall seconds, exit code, JSON report) of ``pytest --actionsec *options -q
    -p no:cacheprovider`` in a fresh empty folder (no example database carried over),
    this checkout first on the path. Exits naming ``label`` when no report was written."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        cmd = [sys.executable, "-m", "pytest", "--actionsec", *options]
        cmd += ["-p", "no:cacheprovider", "-q", "--actionsec-report=r.json"]
        started = now()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = now() - started
        report = Path(tmp) / "r.json"
        if not report.exists():
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
            raise SystemExit(f"{label}: no report (exit {proc.returncode})")
        return wall, proc.returncode, json.loads(report.read_text())
