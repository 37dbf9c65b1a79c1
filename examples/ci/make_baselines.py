"""Make the baselines of this directory from a multi-seed campaign (one per mode).

For each mode, the built-in suite runs once per seed (``--seeds`` runs from
``--first-seed``, each in a fresh empty folder with its own Hypothesis database, all
four layers, sqlite store unless ``--store``), with ``--examples`` examples per
property, or ``--budget`` of wall time per run instead. The findings of every run are
pooled and merged into ``actionsec-baseline-<mode>.json`` with the plugin's own merge
(``pytest_actionsec.report.update_baseline``): entries of what the campaign did not run
are kept, the others are replaced by what it found.

Granularity: a ``leak`` finding is accepted on its field, with its audience
(``severity``), since the field is the point (who reads the secret). Every other
finding is accepted on (invariant, helper, layer) with ``"field": "*"``: which field a
type, bounds, integrity or time defect shows in depends on what the seed drew (the
cause, a helper copying its input unchecked, is the same), so a per-field entry would
fail a nightly with another seed on a field nobody fixed or broke. Where the layers
an invariant is found at on a helper differ between the campaign's runs, its entry
has ``"layer": "*"`` too (the helper's defect, reached at whichever layer the seed
drew it).

Run from the repository root (or from a fork's, with this file and the baselines)::

    python examples/ci/make_baselines.py --seeds 10 --jobs 2 --keep /tmp/actionsec-runs
    python examples/ci/make_baselines.py --modes hostile --budget 60s

Review ``git diff`` of the baselines before committing them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LAYERS = "packer,boundary,store,api"
TARGET = "nova.objects.instance_action"
#: Families accepted on their field; the others on any field (see the docstring).
FIELD_KEYED = frozenset({"leak"})


def run_suite(
    mode: str,
    seed: int,
    *,
    examples: int | None = 100,
    budget: str | None = None,
    baseline: Path | None = None,
    layers: str = LAYERS,
    store: str | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """One run of the built-in suite in a fresh folder; returns its JSON report."""
    with tempfile.TemporaryDirectory(prefix=f"actionsec-{mode}-{seed}-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            str(workers),
            "--actionsec",
            f"--actionsec-mode={mode}",
            f"--actionsec-seed={seed}",
            f"--actionsec-layers={layers}",
            f"--actionsec-report={report}",
        ]
        cmd.append(f"--actionsec-budget={budget}" if budget else f"--actionsec-examples={examples}")
        if baseline is not None:
            cmd.append(f"--actionsec-baseline={baseline}")
        if store:
            cmd.append(f"--actionsec-store={store}")
        env = dict(os.environ, HYPOTHESIS_STORAGE_DIRECTORY=str(Path(tmp) / ".hypothesis"))
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 1) or not report.exists():
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise SystemExit(f"{mode} seed {seed}: pytest exited {done.returncode}\n{tail}")
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        return data


def generalised(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pooled findings at the baseline's granularity: ``field`` ``"*"`` outside
    FIELD_KEYED, and ``layer`` ``"*"`` where the layers an invariant was found at on a
    helper differ between the runs."""
    found = [
        [v for v in r["violations"] if not v.get("blame") and not v.get("noted")] for r in reports
    ]
    layers: dict[tuple[str, str], list[frozenset[str]]] = {}
    for run in found:
        at: dict[tuple[str, str], set[str]] = {}
        for v in run:
            at.setdefault((v["invariant"], v["function"]), set()).add(v["layer"])
        for key in {*layers, *at}:
            layers.setdefault(key, []).append(frozenset(at.get(key, ())))
    stable = {
        key for key, seen in layers.items() if len(seen) == len(found) and len(set(seen)) == 1
    }
    out = []
    for v in (v for run in found for v in run):
        if v["family"] in FIELD_KEYED:
            out.append(v)
            continue
        v = {**v, "field": "*"}
        if (v["invariant"], v["function"]) not in stable:
            v["layer"] = "*"
        out.append(v)
    return out


def campaign(
    mode: str, seeds: Sequence[int], jobs: int, keep: Path | None = None, **run: Any
) -> list[dict[str, Any]]:
    """The reports of one mode's runs, one per seed (kept in, and reused from, ``keep``)."""

    def one(seed: int) -> dict[str, Any]:
        saved = keep / f"{mode}-{seed}.json" if keep else None
        if saved is not None and saved.exists():
            data: dict[str, Any] = json.loads(saved.read_text(encoding="utf-8"))
            return data
        report = run_suite(mode, seed, **run)
        if saved is not None:
            saved.write_text(json.dumps(report), encoding="utf-8")
        return report

    reports = []
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        for seed, r in zip(seeds, pool.map(one, seeds), strict=True):
            found = {(v["invariant"], v["function"], v["layer"]) for v in r["violations"]}
            print(
                f"{mode} seed {seed}: {len(found)} distinct (invariant, helper, layer)", flush=True
            )
            reports.append(r)
    return reports


def merge(path: Path, mode: str, reports: Sequence[dict[str, Any]]) -> str:
    """Merge the pooled findings of ``reports`` into the baseline at ``path``."""
    from pytest_actionsec.engine import builtin_groups
    from pytest_actionsec.report import RunScope, update_baseline

    scope = RunScope(
        mode=mode,
        target=TARGET,
        properties=frozenset(
            (p["family"], p["function"], p["layer"])
            for r in reports
            for p in r["properties"]
            if p["status"] != "skipped" and p["examples"]
        ),
        groups=frozenset((g.function, g.layer) for g in builtin_groups(LAYERS.split(","))),
    )
    pooled = generalised(reports)
    return update_baseline(path, pooled, scope).line(path.name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="contract,hostile")
    parser.add_argument("--seeds", type=int, default=10, help="runs per mode (default 10)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=100, help="per property (default 100)")
    parser.add_argument("--budget", help="wall time per run instead of --examples, e.g. 60s")
    parser.add_argument("--layers", default=LAYERS)
    parser.add_argument("--store", help="SQLAlchemy URL (default: in-process sqlite)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--keep", type=Path, help="keep each run's report here (and reuse it)")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for mode in args.modes.split(","):
        reports = campaign(
            mode,
            seeds,
            args.jobs,
            args.keep,
            examples=args.examples,
            budget=args.budget,
            layers=args.layers,
            store=args.store,
        )
        print(merge(args.out_dir / f"actionsec-baseline-{mode}.json", mode, reports), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
