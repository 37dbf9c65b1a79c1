"""Helpers shared by the benchmark scripts (run from the repository root)."""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

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
