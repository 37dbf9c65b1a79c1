"""Benchmark 6: the default built-in suite on real nova at ``-n 0``, a base ref vs the working tree.

Extracts the package as it was at ``--base REF`` (any git ref, default ``c66ee8b``, the
last commit before issue 19: ``git archive REF pytest_actionsec``) into a temporary
directory and runs ``pytest --actionsec -p no:cacheprovider -q --actionsec-seed=S
--actionsec-examples=E --actionsec-report=r.json -n 0`` in a fresh empty temporary
directory each time (no Hypothesis example database carried over), alternating the base
package (first on the import path: ``PYTHONPATH=<extracted>``) and the working tree's (a
copy taken at the start, ``PYTHONPATH=<copy>``, ahead of the editable install): base,
new, new, base, ... Both copies are byte-compiled first. Before each run, ``python -c
"import pytest_actionsec"`` with the same environment and directory checks which package
is imported. Both get the same seed and the same examples per property.

Reports, per run and as medians over the pairs for each version: the process's wall time
and pytest's own time (the ``in X.XXs`` of its last line, session start to end), the
ratio new/base of both (median of the per-pair ratios), and the number of Hypothesis runs
each version made: the ``N Hypothesis runs`` of its terminal summary when it prints one,
else the distinct (function, layer) pairs of the JSON report's ``properties`` with
examples > 0 (one run each before issue 19). Then the properties and examples of each
JSON report. Goal (issue 19): wall ratio at most 0.5 and new wall time 8 s or less; at
most 6 Hypothesis runs for nova's five functions.
``--same-items`` runs each version on the items both collect (the others deselected with
``--deselect``): the same work, where the default suite has grown since the base (the
notification sink's and the history machine's items, issues 21 and 22).
Usage: python benchmarks/bench_reshape.py [--base c66ee8b] [--pairs 3] [--seed 20261122]
[--examples 100] [--layers packer,boundary,store] [--same-items]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import ROOT, fmt, median, now, table

#: The base both scripts compare with by default: the last commit before issue 19.
DEFAULT_BASE = "c66ee8b"
PACKAGE = "pytest_actionsec"
#: Goals of issue 19 for the default suite (wall ratio new/base, new wall s, runs).
GOAL_RATIO, GOAL_WALL, GOAL_RUNS = 0.5, 8.0, 6
#: The line the new version's "actionsec summary" prints, e.g. "6 Hypothesis runs".
_RUNS_LINE = re.compile(r"(\d+) Hypothesis runs")
#: pytest's last line, e.g. "4 failed, 68 passed in 12.34s (0:00:12)".
_SESSION_TIME = re.compile(r" in (\d+(?:\.\d+)?)s\b")


def base_label(ref: str) -> str:
    """``ref``, with its short commit when the name is not that commit (exits if unknown)."""
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--short", f"{ref}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"--base {ref}: not a commit here ({done.stderr.strip()})")
    short = done.stdout.strip()
    return ref if short.startswith(ref) or ref.startswith(short) else f"{ref} ({short})"


@contextmanager
def base_package(ref: str = DEFAULT_BASE) -> Iterator[Path]:
    """A temporary directory holding ``pytest_actionsec`` as it was at git ref ``ref``."""
    with tempfile.TemporaryDirectory(prefix="actionsec-base-") as tmp:
        archive = subprocess.run(
            ["git", "archive", ref, PACKAGE], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        if not (Path(tmp) / PACKAGE / "__init__.py").exists():
            raise SystemExit(f"git archive {ref} {PACKAGE} gave no package")
        _compile(Path(tmp))
        yield Path(tmp)


@contextmanager
def new_package() -> Iterator[Path]:
    """A temporary directory holding a copy of the working tree's ``pytest_actionsec``.

    Taken once at the start, so that every run uses the same code even while the
    working tree is being edited (the label says which commit, and whether edited).
    """
    with tempfile.TemporaryDirectory(prefix="actionsec-new-") as tmp:
        shutil.copytree(
            ROOT / PACKAGE, Path(tmp) / PACKAGE, ignore=shutil.ignore_patterns("__pycache__")
        )
        _compile(Path(tmp))
        yield Path(tmp)


def _compile(path: Path) -> None:
    """Byte-compile, so that neither version pays for it inside a timed run."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(path)], check=True)


def working_tree_label() -> str:
    """Short HEAD commit, with ``+changes`` when the package has uncommitted edits."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", PACKAGE], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return head + (" + uncommitted changes" if dirty else "")


@dataclass(frozen=True)
class Variant:
    """Which package a run imports: ``name`` (base/new) and the directory holding it."""

    name: str
    path: Path

    def env(self, extra_path: Sequence[Path] = ()) -> dict[str, str]:
        paths = [str(self.path), *(str(p) for p in extra_path)]
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONWARNINGS": "ignore",
            "PYTHONHASHSEED": "0",
        }


def imported_from(variant: Variant, cwd: str, extra_path: Sequence[Path] = ()) -> Path:
    """The package directory ``import pytest_actionsec`` finds with this env and cwd."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
        cwd=cwd,
        env=variant.env(extra_path),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{variant.name}: cannot import {PACKAGE}:\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip()).resolve().parent


def check_import(variant: Variant, cwd: str, extra_path: Sequence[Path] = ()) -> None:
    found = imported_from(variant, cwd, extra_path)
    expected = (variant.path / PACKAGE).resolve()
    if found != expected:
        raise SystemExit(f"{variant.name}: imported {found}, expected {expected}")


def pytest_command(
    seed: int,
    examples: int | None,
    layers: str | None,
    *,
    mode: str | None = None,
    target: str | None = None,
) -> list[str]:
    """``python -m pytest --actionsec ...`` for one suite run at ``-n 0`` (report r.json)."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--actionsec",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--actionsec-seed={seed}",
        "--actionsec-report=r.json",
    ]
    if mode:
        cmd.append(f"--actionsec-mode={mode}")
    if target:
        cmd.append(f"--actionsec-target={target}")
    if examples is not None:
        cmd.append(f"--actionsec-examples={examples}")
    if layers:
        cmd.append(f"--actionsec-layers={layers}")
    return [*cmd, "-n", "0"]


@dataclass
class Run:
    variant: str
    wall: float
    code: int
    report: dict[str, Any] | None
    tail: str  # output tail when there is no report
    session: float | None = None  # pytest's own "in N s" (session start to end)
    summary_runs: int | None = None  # "N Hypothesis runs" of the actionsec summary


def hypothesis_runs(run: Run) -> tuple[int | None, str]:
    """(Hypothesis runs of ``run``, where the count comes from).

    The terminal summary's ``N Hypothesis runs`` when printed; else the distinct
    (function, layer) pairs of the report's properties with examples > 0 (before issue
    19 each such pair was one run); None without either."""
    if run.summary_runs is not None:
        return run.summary_runs, "summary line"
    if run.report is None:
        return None, "no report"
    pairs = {
        (p.get("function"), p.get("layer"))
        for p in run.report["properties"]
        if p.get("examples", 0) > 0
    }
    return len(pairs), "(function, layer) pairs with examples"


def run_suite(
    variant: Variant,
    args: Sequence[str],
    *,
    extra_path: Sequence[Path] = (),
    timeout: float | None = None,
) -> Run:
    """One pytest process (``args`` after ``python``) in a fresh empty directory."""
    with tempfile.TemporaryDirectory(prefix="actionsec-run-") as tmp:
        check_import(variant, tmp, extra_path)
        t = now()
        try:
            done = subprocess.run(
                list(args),
                cwd=tmp,
                env=variant.env(extra_path),
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return Run(variant.name, now() - t, -1, None, f"timed out after {timeout} s")
        elapsed = now() - t
        path = Path(tmp) / "r.json"
        report = json.loads(path.read_text()) if path.exists() else None
        tail = "" if report else (done.stdout[-2000:] + "\n" + done.stderr[-2000:]).strip()
        return Run(
            variant.name,
            elapsed,
            done.returncode,
            report,
            tail,
            session_time(done.stdout),
            summary_runs(done.stdout),
        )


def collected(variant: Variant, layers: str | None) -> set[str]:
    """The actionsec item ids ``variant`` collects (``--collect-only -q``)."""
    cmd = [sys.executable, "-m", "pytest", "--actionsec", "--collect-only", "-q"]
    cmd += ["-p", "no:cacheprovider", *([f"--actionsec-layers={layers}"] if layers else [])]
    with tempfile.TemporaryDirectory(prefix="actionsec-collect-") as tmp:
        check_import(variant, tmp)
        done = subprocess.run(
            cmd, cwd=tmp, env=variant.env(), capture_output=True, text=True, check=False
        )
    ids = {line.strip() for line in done.stdout.splitlines() if line.startswith("actionsec[")}
    if not ids:
        raise SystemExit(f"{variant.name}: collected nothing:\n{done.stdout[-2000:]}")
    return ids


def session_time(stdout: str) -> float | None:
    """pytest's own time: the ``in X.XXs`` of the last line that has one."""
    for line in reversed(stdout.splitlines()):
        found = _SESSION_TIME.search(line)
        if found:
            return float(found.group(1))
    return None


def summary_runs(stdout: str) -> int | None:
    """The last ``N Hypothesis runs`` of the output (None when it prints none)."""
    found = _RUNS_LINE.findall(stdout)
    return int(found[-1]) if found else None


def summary(report: dict[str, Any] | None) -> str:
    if report is None:
        return "no report"
    props = report["properties"]
    examples = sum(p.get("examples", 0) for p in props)
    failed = sum(p["status"] == "failed" for p in props)
    skipped = sum(p["status"] == "skipped" for p in props)
    return (
        f"{len(props)} properties ({failed} failed, {skipped} skipped), {examples} examples "
        f"(--actionsec-examples {report.get('examples_per_property')}, layers "
        f"{','.join(report.get('layers', []))}, {report.get('mode')}), "
        f"{len(report.get('violations', []))} violations (examples summed over properties)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help="git ref to compare with")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--examples", type=int, default=100, help="examples per property")
    parser.add_argument("--layers", default=None, help="default: each version's default")
    parser.add_argument(
        "--same-items", action="store_true", help="only the items both versions collect"
    )
    args = parser.parse_args()
    base_name = base_label(args.base)
    cmd = pytest_command(args.seed, args.examples, args.layers)
    commands = {"base": cmd, "new": cmd}
    runs: dict[str, list[Run]] = {"base": [], "new": []}
    label = working_tree_label()
    with base_package(args.base) as base_dir, new_package() as new_dir:
        base, new = Variant("base", base_dir), Variant("new", new_dir)
        if args.same_items:
            ids = {v.name: collected(v, args.layers) for v in (base, new)}
            both = ids["base"] & ids["new"]
            for v in (base, new):
                dropped = sorted(ids[v.name] - both)
                commands[v.name] = [*cmd, *(f"--deselect={i}" for i in dropped)]
                print(
                    f"{v.name}: {len(ids[v.name])} items, {len(dropped)} deselected "
                    f"({', '.join(dropped) or '-'})",
                    file=sys.stderr,
                )
        for pair in range(args.pairs):
            for variant in (base, new) if pair % 2 == 0 else (new, base):
                run = run_suite(variant, commands[variant.name])
                session = "-" if run.session is None else f"{run.session:.1f} s"
                print(
                    f"pair {pair + 1} {variant.name}: wall {run.wall:.1f} s, pytest {session}, "
                    f"exit {run.code}; {summary(run.report)}",
                    file=sys.stderr,
                )
                if run.report is None:
                    print(run.tail, file=sys.stderr)
                runs[variant.name].append(run)
    pairs = list(zip(runs["base"], runs["new"], strict=True))
    shown = " ".join(["pytest", *cmd[3:]]) + (" (--same-items)" if args.same_items else "")
    print(f"### 6. The reshape: default suite on real nova at -n 0, {base_name} vs working tree\n")
    print(
        f"`{shown}` in a fresh empty directory, {base_name} (`PYTHONPATH=<git archive "
        f"{args.base}>`) and the working tree ({label}; a copy taken at the start) "
        f"alternated, {args.pairs} pair(s), {os.cpu_count()} CPUs; the imported package was "
        "checked before each run.\n"
    )
    rows = []
    for i, (b, n) in enumerate(pairs):
        rows.append(
            [
                str(i + 1),
                "base, new" if i % 2 == 0 else "new, base",
                f"{fmt(b.wall, 1)} / {fmt(n.wall, 1)} = {fmt(n.wall / b.wall)}",
                _ratio_cell(b.session, n.session),
                f"{_runs_cell(b)} / {_runs_cell(n)}",
            ]
        )
    print(
        table(
            [
                "pair",
                "order",
                "wall s base / new = ratio",
                "pytest's own s base / new = ratio",
                "Hypothesis runs base / new",
            ],
            rows,
        )
    )
    print(
        "\nThe wall time includes the process start both versions share (Python, pytest, "
        "nova's import in pytest_configure, about 2 s); pytest's own time starts after it. "
        "Ratios are new/base; medians of the per-pair ratios below.\n"
    )
    wall_ratio = median(n.wall / b.wall for b, n in pairs)
    sessions = [(b.session, n.session) for b, n in pairs if b.session and n.session]
    session_ratio = median(n / b for b, n in sessions) if sessions else None
    new_wall = median(r.wall for r in runs["new"])
    for name, shown_name in (("base", base_name), ("new", "new")):
        walls = [r.wall for r in runs[name]]
        times = [r.session for r in runs[name] if r.session is not None]
        own = f"{fmt(median(times), 1)} s" if times else "- (not printed)"
        print(
            f"- {shown_name}: median wall {fmt(median(walls), 1)} s, median pytest's own time "
            f"{own}; Hypothesis runs {_runs_text(runs[name])}"
        )
    print(
        f"- median ratio new/base, wall: {fmt(wall_ratio)} (speed-up {fmt(1 / wall_ratio, 1)}x)"
        + (
            f"; pytest's own time: {fmt(session_ratio)} (speed-up {fmt(1 / session_ratio, 1)}x)"
            if session_ratio
            else "; pytest's own time: -"
        )
    )
    new_runs = {hypothesis_runs(r)[0] for r in runs["new"]}
    runs_met = all(n is not None and n <= GOAL_RUNS for n in new_runs)
    print(
        f"- goal (issue 19): wall ratio at most {GOAL_RATIO}: "
        f"{'met' if wall_ratio <= GOAL_RATIO else 'not met'}; new median wall "
        f"{fmt(GOAL_WALL, 0)} s or less: {'met' if new_wall <= GOAL_WALL else 'not met'}; "
        f"at most {GOAL_RUNS} Hypothesis runs for nova's five functions: "
        f"{'met' if runs_met else 'not met'}"
    )
    for name, shown_name in (("base", base_name), ("new", "new")):
        first = runs[name][0]
        codes = sorted({r.code for r in runs[name]})
        print(f"- {shown_name}: {summary(first.report)}; exit status {codes}")
    same = _same_examples(runs["base"][0].report, runs["new"][0].report)
    print(f"- {same}\n")
    return 0 if all(r.report is not None for rs in runs.values() for r in rs) else 2


def _ratio_cell(base: float | None, new: float | None) -> str:
    if not base or new is None:
        return "-"
    return f"{fmt(base, 1)} / {fmt(new, 1)} = {fmt(new / base)}"


def _runs_cell(run: Run) -> str:
    count, source = hypothesis_runs(run)
    if count is None:
        return "-"
    return f"{count}" + ("" if source == "summary line" else " (counted)")


def _runs_text(runs: Sequence[Run]) -> str:
    """The runs' distinct counts and their sources, e.g. ``16 ((function, layer) ...)``."""
    seen = sorted({hypothesis_runs(r) for r in runs}, key=str)
    return ", ".join(f"{'-' if n is None else n} ({source})" for n, source in seen)


def _same_examples(base: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    """Compare per-property example counts of the two first reports."""
    if base is None or new is None:
        return "examples per property: not compared (a report is missing)"
    a = {p["id"]: p.get("examples", 0) for p in base["properties"]}
    b = {p["id"]: p.get("examples", 0) for p in new["properties"]}
    common = sorted(set(a) & set(b))
    differ = [f"{pid} ({a[pid]} vs {b[pid]})" for pid in common if a[pid] != b[pid]]
    only = len(set(a) ^ set(b))
    text = (
        f"examples per property: {len(common)} properties in both, "
        f"{len(common) - len(differ)} with the same count"
    )
    if differ:
        more = f", ... {len(differ) - 10} more" if len(differ) > 10 else ""
        shown = ", ".join(differ[:10]) + more
        text += f"; differing (reported examples, base vs new): {shown}"
    if only:
        text += f"; {only} property ids in only one of the two"
    return text


if __name__ == "__main__":
    sys.exit(main())
