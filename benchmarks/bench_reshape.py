"""Benchmark 6: the default built-in suite on real nova at ``-n 0``, v0.1.0 vs the working tree.

Extracts the package as tagged ``v0.1.0`` (``git archive v0.1.0 pytest_actionsec``) into
a temporary directory and runs ``pytest --actionsec -p no:cacheprovider -q
--actionsec-seed=S --actionsec-examples=E --actionsec-report=r.json -n 0`` in a fresh
empty temporary directory each time (no Hypothesis example database carried over),
alternating the old package (first on the import path: ``PYTHONPATH=<extracted>``) and
the working tree's (a copy taken at the start, ``PYTHONPATH=<copy>``, ahead of the
editable install): old, new, new, old, ... Both copies are byte-compiled first. Before
each run, ``python -c "import pytest_actionsec"`` with the same environment and
directory checks which package is imported. Both get the same seed and the same examples
per property. Reports each run's wall time, the ratio new/old per pair and its median,
and the properties and examples of each JSON report. Goal: new at most a quarter of
v0.1.0, and 6 s or less.
Usage: python benchmarks/bench_reshape.py [--pairs 3] [--seed 20261122] [--examples 100]
[--layers packer,boundary,store]
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

OLD_TAG = "v0.1.0"
PACKAGE = "pytest_actionsec"


@contextmanager
def old_package(tag: str = OLD_TAG) -> Iterator[Path]:
    """A temporary directory holding ``pytest_actionsec`` as it was at ``tag``."""
    with tempfile.TemporaryDirectory(prefix="actionsec-old-") as tmp:
        archive = subprocess.run(
            ["git", "archive", tag, PACKAGE], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        if not (Path(tmp) / PACKAGE / "__init__.py").exists():
            raise SystemExit(f"git archive {tag} {PACKAGE} gave no package")
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
    """Which package a run imports: ``name`` (old/new) and the directory holding it."""

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
        found = re.findall(r" in (\d+(?:\.\d+)?)s", done.stdout)
        session = float(found[-1]) if found else None
        return Run(variant.name, elapsed, done.returncode, report, tail, session)


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
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--examples", type=int, default=100, help="examples per property")
    parser.add_argument("--layers", default=None, help="default: each version's default")
    args = parser.parse_args()
    cmd = pytest_command(args.seed, args.examples, args.layers)
    runs: dict[str, list[Run]] = {"old": [], "new": []}
    label = working_tree_label()
    with old_package() as old_dir, new_package() as new_dir:
        old, new = Variant("old", old_dir), Variant("new", new_dir)
        for pair in range(args.pairs):
            for variant in (old, new) if pair % 2 == 0 else (new, old):
                run = run_suite(variant, cmd)
                print(
                    f"pair {pair + 1} {variant.name}: {run.wall:.1f} s, exit {run.code}; "
                    f"{summary(run.report)}",
                    file=sys.stderr,
                )
                if run.report is None:
                    print(run.tail, file=sys.stderr)
                runs[variant.name].append(run)
    ratios = [n.wall / o.wall for o, n in zip(runs["old"], runs["new"], strict=True)]
    ratio = median(ratios)
    shown = " ".join(["pytest", *cmd[3:]])
    print(f"### 6. The reshape: default suite on real nova at -n 0, {OLD_TAG} vs working tree\n")
    print(
        f"`{shown}` in a fresh empty directory, {OLD_TAG} (`PYTHONPATH=<git archive "
        f"{OLD_TAG}>`) and the working tree ({label}; a copy taken at the start) alternated, "
        f"{args.pairs} pair(s), {os.cpu_count()} CPUs; the imported package was checked "
        "before each run.\n"
    )
    rows = []
    for i, (o, n) in enumerate(zip(runs["old"], runs["new"], strict=True)):
        order = "old, new" if i % 2 == 0 else "new, old"
        sess = "-"
        if o.session and n.session:
            sess = f"{fmt(o.session, 1)} / {fmt(n.session, 1)} = {fmt(n.session / o.session)}"
        rows.append([str(i + 1), order, fmt(o.wall, 1), fmt(n.wall, 1), fmt(n.wall / o.wall), sess])
    print(
        table(
            ["pair", "order", f"{OLD_TAG} s", "new s", "new/old", "pytest's own time old/new"],
            rows,
        )
    )
    print(
        "\nThe wall time includes the process start both versions share (Python, pytest, "
        "nova's import in pytest_configure, about 2 s); pytest's own time starts after it."
    )
    new_median = median(r.wall for r in runs["new"])
    print(
        f"\n- median ratio new/{OLD_TAG}: {fmt(ratio)} (speed-up {fmt(1 / ratio, 1)}x); "
        f"goal at most 0.25: {'met' if ratio <= 0.25 else 'not met'}"
    )
    print(
        f"- median new wall time: {fmt(new_median, 1)} s; goal 6 s or less: "
        f"{'met' if new_median <= 6.0 else 'not met'}"
    )
    for name, label in (("old", OLD_TAG), ("new", "new")):
        first = runs[name][0]
        codes = sorted({r.code for r in runs[name]})
        print(f"- {label}: {summary(first.report)}; exit status {codes}")
    same = _same_examples(runs["old"][0].report, runs["new"][0].report)
    print(f"- {same}\n")
    return 0 if all(r.report is not None for rs in runs.values() for r in rs) else 2


def _same_examples(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    """Compare per-property example counts of the two first reports."""
    if old is None or new is None:
        return "examples per property: not compared (a report is missing)"
    a = {p["id"]: p.get("examples", 0) for p in old["properties"]}
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
        text += f"; differing (reported examples, old vs new): {shown}"
    if only:
        text += f"; {only} property ids in only one of the two"
    return text


if __name__ == "__main__":
    sys.exit(main())
