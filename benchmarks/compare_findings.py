"""Findings of a base ref vs the working tree on the same inputs: is every base finding found?

For each case and seed, runs ``pytest --actionsec -p no:cacheprovider -q
--actionsec-seed=S --actionsec-report=r.json -n 0 [--actionsec-target=T]
[--actionsec-mode=M] [--actionsec-layers=L] [--actionsec-examples=E]`` once with the
package as it was at ``--base REF`` (any git ref, default ``c66ee8b``, the last commit
before issue 19; ``git archive REF pytest_actionsec``, first on ``PYTHONPATH``) and once
with the working tree's (a copy taken at the start, first on ``PYTHONPATH``), each in a
fresh empty directory (so a fresh Hypothesis example database) with ``PYTHONHASHSEED=0``.
Cases: real nova in contract mode (``nova-contract``), real nova in hostile mode
(``nova-hostile``), and every zoo mutant (``tests/zoo/m_*.py``, contract mode; the
repository root is on ``PYTHONPATH`` after the package so that ``tests.zoo`` imports; both
versions run the working tree's zoo). A finding is a distinct (invariant, function, layer,
field) of the report's ``violations``; per case, the findings of all seeds are pooled and
compared. Runs at most ``--jobs`` (default 2) processes at a time. Prints, per case, the
findings only in the base and only in the new code; for each one only in the base, the
first seed that found it, the base's evidence and printed input (first 200 characters
each) and the fields the new code reports for the same (invariant, function, layer), so
that its cause can be found. Then "every finding of the base is reported by the new
code: yes/no". Exit status 1 when some base finding is missing, 2 when a run gave no
report.
Usage: python benchmarks/compare_findings.py [--base c66ee8b] [--seeds 1-5] [--layers L]
[--examples E] [--only nova-contract,nova-hostile,m_leak_repr,...] [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from _common import ROOT, fmt, now
from bench_reshape import (
    DEFAULT_BASE,
    Run,
    Variant,
    base_label,
    base_package,
    new_package,
    pytest_command,
    run_suite,
    working_tree_label,
)

NOVA = "nova.objects.instance_action"
Finding = tuple[str, str, str, str]
#: Characters of a lost finding's evidence and printed input shown.
SHOWN_CHARS = 200


@dataclass(frozen=True)
class Case:
    name: str
    target: str | None  # None: the plugin's default target (real nova)
    mode: str


def all_cases() -> list[Case]:
    cases = [Case("nova-contract", None, "contract"), Case("nova-hostile", None, "hostile")]
    for path in sorted((ROOT / "tests" / "zoo").glob("m_*.py")):
        cases.append(Case(path.stem, f"tests.zoo.{path.stem}", "contract"))
    return cases


def command(case: Case, seed: int, layers: str | None, examples: int | None) -> list[str]:
    """The suite command of one case (see :func:`bench_reshape.pytest_command`)."""
    return pytest_command(seed, examples, layers, mode=case.mode, target=case.target)


def key(violation: dict[str, Any]) -> Finding:
    """(invariant, function, layer, field) of one report entry."""
    return (
        str(violation.get("invariant") or ""),
        str(violation.get("function") or ""),
        str(violation.get("layer") or ""),
        str(violation.get("field") or ""),
    )


def findings(run: Run) -> set[Finding]:
    assert run.report is not None
    return {key(v) for v in run.report.get("violations", [])}


def clip(text: object, limit: int = SHOWN_CHARS) -> str:
    """One line of at most ``limit`` characters (newlines shown as ``\\n``)."""
    flat = str(text).replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[:limit] + f"... ({len(flat)} chars)"


def show(found: Finding) -> str:
    invariant, function, layer, field = found
    return f"{invariant} [{function}/{layer}]" + (f" field={field}" if field else "")


def parse_seeds(text: str) -> list[int]:
    """``1-5`` (a range, both ends included), ``1,3`` or ``2``."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if low:
            seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help="git ref to compare with")
    parser.add_argument("--seeds", default="1-5", help="e.g. 1-5, 1,3 or 2")
    parser.add_argument("--layers", default=None, help="default: each version's default")
    parser.add_argument("--examples", type=int, default=None, help="default: the default")
    parser.add_argument("--only", default="", help="case names, e.g. nova-contract,m_leak_repr")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    cases = all_cases()
    only = [name for name in args.only.split(",") if name]
    unknown = set(only) - {c.name for c in cases}
    if unknown:
        raise SystemExit(f"unknown cases {sorted(unknown)}; known: {[c.name for c in cases]}")
    if only:
        cases = [c for c in cases if c.name in only]
    base_name = base_label(args.base)
    start = now()
    lock = threading.Lock()
    label = working_tree_label()
    with base_package(args.base) as base_dir, new_package() as new_dir:
        variants = {"base": Variant("base", base_dir), "new": Variant("new", new_dir)}
        jobs = [(case, seed, name) for case in cases for seed in seeds for name in variants]

        def one(job: tuple[Case, int, str]) -> Run:
            case, seed, name = job
            run = run_suite(
                variants[name],
                command(case, seed, args.layers, args.examples),
                extra_path=[ROOT],
                timeout=args.timeout,
            )
            with lock:
                n = "-" if run.report is None else str(len(findings(run)))
                print(
                    f"{case.name} seed {seed} {name}: {run.wall:.1f} s, exit {run.code}, "
                    f"{n} findings",
                    file=sys.stderr,
                )
                if run.report is None:
                    print(run.tail, file=sys.stderr)
            return run

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = dict(zip(jobs, pool.map(one, jobs), strict=True))
    return report(cases, seeds, results, args, now() - start, label, base_name)


def report(
    cases: Sequence[Case],
    seeds: Sequence[int],
    results: dict[tuple[Case, int, str], Run],
    args: argparse.Namespace,
    elapsed: float,
    label: str,
    base_name: str,
) -> int:
    print(f"### 7. Findings: {base_name} vs the working tree on the same inputs\n")
    shown = " ".join(["pytest", *command(Case("", None, "M"), 0, args.layers, args.examples)[3:]])
    print(
        f"`{shown.replace('seed=0', 'seed=S')} [--actionsec-target=T]`, each in a fresh "
        f"empty directory; {base_name} (`git archive {args.base}`) vs the working tree "
        f"({label}; a copy taken at the start); seeds {','.join(map(str, seeds))}; "
        f"{len(cases)} case(s); findings (invariant, function, layer, field) pooled "
        f"over seeds; {fmt(elapsed, 0)} s with {args.jobs} processes.\n"
    )
    missing_any = False
    broken = []
    totals = {"base": 0, "new": 0, "lost": 0, "gained": 0}
    for case in cases:
        pools: dict[str, set[Finding]] = {"base": set(), "new": set()}
        first: dict[tuple[str, Finding], tuple[int, dict[str, Any]]] = {}
        for seed in seeds:
            for name, pool in pools.items():
                run = results[(case, seed, name)]
                if run.report is None:
                    broken.append(f"{case.name} seed {seed} {name} (exit {run.code})")
                    continue
                for v in run.report.get("violations", []):
                    pool.add(key(v))
                    first.setdefault((name, key(v)), (seed, v))
        base, new = pools["base"], pools["new"]
        only_base, only_new = sorted(base - new), sorted(new - base)
        missing_any |= bool(only_base)
        for name, count in (
            ("base", len(base)),
            ("new", len(new)),
            ("lost", len(only_base)),
            ("gained", len(only_new)),
        ):
            totals[name] += count
        print(
            f"- {case.name} ({case.mode}): {len(base)} finding(s) in {base_name}, "
            f"{len(new)} in new, {len(base & new)} in both"
        )
        for item in only_base:
            seed, v = first[("base", item)]
            print(f"  - only in {base_name}: {show(item)} (seed {seed})")
            print(f"    - evidence: {clip(v.get('evidence', ''))}")
            print(f"    - input: {clip(v.get('input', ''))}")
            near = sorted(f[3] or "(none)" for f in new if f[:3] == item[:3])
            print(
                "    - new reports this invariant, function and layer with field(s): "
                + (", ".join(near) if near else "none")
            )
        for item in only_new:
            print(f"  - only in new: {show(item)} (seed {first[('new', item)][0]})")
    if broken:
        print(f"\nRuns without a report (not compared): {', '.join(broken)}")
    print(
        f"\nTotals over {len(cases)} case(s): {totals['base']} finding(s) in {base_name}, "
        f"{totals['new']} in new; {totals['lost']} only in {base_name}, "
        f"{totals['gained']} only in new."
    )
    print(
        f"\nevery finding of {base_name} is reported by the new code: "
        f"{'no' if missing_any else 'yes'}" + (" (some runs broke)" if broken else "")
    )
    print()
    return 1 if missing_any else 2 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
