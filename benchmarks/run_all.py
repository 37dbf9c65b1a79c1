"""Run the benchmarks and write benchmarks/results.md with the exact command lines.

Each benchmark runs as its own process (``sys.executable benchmarks/<script> ...``,
from the repository root), one after the other, so they do not disturb one another;
every figure is a ratio of two things measured interleaved within one of them.
Usage: python benchmarks/run_all.py [--quick] [--stability] [--findings] [--only SCRIPT[,SCRIPT]]
(--quick: fewer repetitions; --stability: also run benchmarks/stability.py, ~20-30 min;
--findings: also run benchmarks/compare_findings.py, c66ee8b's findings (its default
--base) vs the working tree's, ~1-2 h (--quick: seeds 1-2);
--only: re-run the named scripts, e.g. bench_detection.py, and replace their sections
in an existing results.md)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from _common import ROOT, fmt, now

HERE = Path(__file__).resolve().parent
#: bench_budget.py spends 2 x budget per mutant: five mutants, two the probes miss.
_BUDGET_MUTANTS = "m_leak_cause,m_null_host,m_time_aware,m_leak_notes,m_crash_kwargs"


def plan(quick: bool, stability: bool, findings: bool = False) -> list[list[str]]:
    runs = [
        ["bench_overhead.py", "--examples", "100", "--reps", "2" if quick else "3"],
        ["bench_detection.py", "--seeds", "1,2,3" if quick else "1,2,3,4,5"],
        ["bench_clock.py", "--examples", "100", "--blocks", "4" if quick else "8"],
        ["bench_load.py", "--pairs", "7" if quick else "15"],
        ["bench_suite.py", "--pairs", "1"],
        ["bench_reshape.py", "--pairs", "1" if quick else "3"],
        ["bench_budget.py", "--budget", "10" if quick else "60", "--mutants", _BUDGET_MUTANTS],
        [
            "bench_exposure.py",
            "--examples",
            "100",
            "--repeats",
            "2" if quick else "3",
            "--profile",
            "15",
        ],
    ]
    if stability:
        runs.append(["stability.py", "--runs", "3" if quick else "20"])
    if findings:
        runs.append(["compare_findings.py", "--seeds", "1-2" if quick else "1-5"])
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--stability", action="store_true")
    parser.add_argument("--findings", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results.md"))
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    sections = []
    status = 0
    for script, *rest in plan(
        args.quick,
        args.stability or "stability.py" in only,
        args.findings or "compare_findings.py" in only,
    ):
        if only and script not in only:
            continue
        cmd = [sys.executable, str(HERE / script), *rest]
        shown = " ".join(
            [
                ".venv/bin/python" if "venv" in sys.executable else "python",
                f"benchmarks/{script}",
                *rest,
            ]
        )
        print(f"running: {shown}", file=sys.stderr)
        t = now()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        elapsed = now() - t
        status |= done.returncode
        body = done.stdout.strip() or "(no output)"
        if done.returncode:  # stability.py, compare_findings.py exit 1 on a result
            body += f"\n\nexit status {done.returncode}"
            if not done.stdout.strip() or "Traceback" in done.stderr:
                body += f"; stderr tail:\n```\n{done.stderr[-2000:]}\n```"
        sections.append(
            f"{body}\n\nCommand (from the repository root, {fmt(elapsed, 0)} s): `{shown}`\n"
        )
        print(body, file=sys.stderr)
    header = [
        "# pytest-actionsec benchmarks",
        "",
        f"Written by `benchmarks/run_all.py{' --quick' if args.quick else ''}"
        f"{' --stability' if args.stability else ''}"
        f"{' --findings' if args.findings else ''}` on "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs ({platform.machine()}), "
        f"nova {version('nova')}, hypothesis {version('hypothesis')}, "
        f"freezegun {version('freezegun')}, pytest {version('pytest')}. The machine is shared "
        "and noisy: absolute times vary, every goal is judged on a ratio of two things "
        "measured interleaved in the same run.",
        "",
    ]
    if only:
        when = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
        _replace(Path(args.out), sections, f"Re-run at {when}: `run_all.py --only {args.only}`.")
    else:
        Path(args.out).write_text("\n".join(header) + "\n" + "\n".join(sections))
    print(f"wrote {args.out}", file=sys.stderr)
    return status


def _replace(path: Path, sections: list[str], note: str) -> None:
    """Swap the sections whose "### " heading matches; append the others; note it."""
    text = path.read_text()
    head, *old = text.split("\n### ")
    head = head.rstrip("\n") + "\n\n" + note
    parts = ["### " + part for part in old]
    for new in sections:
        title = new.split("\n", 1)[0][:8]
        hits = [i for i, part in enumerate(parts) if part.startswith(title)]
        if hits:
            parts[hits[0]] = new
        else:
            parts.append(new)
    path.write_text(head.rstrip("\n") + "\n\n" + "\n".join(p.rstrip("\n") + "\n" for p in parts))


if __name__ == "__main__":
    sys.exit(main())
