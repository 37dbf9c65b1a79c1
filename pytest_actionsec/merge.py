"""Merge the JSON reports of several runs into one: ``python -m pytest_actionsec.merge``.

A campaign spread over several processes, CI runners, shards of a matrix or xdist
sessions writes one JSON report per run (``--actionsec-report=PATH.json``); the merge
is one report of the same schema, and optionally one SARIF log for code scanning::

    python -m pytest_actionsec.merge OUT.json IN1.json IN2.json [--sarif OUT.sarif]

What the merged report holds:

- every distinct finding once: a finding is its (invariant, function, layer, field,
  kind, property); of the entries several runs give, the one kept is a new one before
  an accepted or noted one, then the widest audience, then the shortest input (then
  the input and evidence text, so the choice does not depend on the order of the
  files). A report written before reports named the ``kind`` tells findings apart by
  their evidence instead;
- each property once: its examples and seconds summed over the runs, ``failed`` when
  a run failed it (else ``passed`` when a run ran it, else ``skipped``), its counts
  (``new``, ``accepted``, ``noted``) and widest new leak counted again on the merged
  findings, its seed when every run had the same one (else null);
- the layers of every run, the run's seed when all agree (else null), the largest
  ``examples_per_property``, the first report's ``root``, every function's definition
  (the first report naming it) and every fallback;
- ``merged_from``: each run merged (its report's SHA-256, seed, examples and layers).

Merging is idempotent: a run already merged (the same report again, or one a merged
input already holds) is not counted twice, so ``merge(merge(A, B), B)`` is
``merge(A, B)``; two merged reports that share some of their runs but not all cannot
be merged (their sums would count the shared runs twice). The reports must be of one
target and one mode. A file that is not a JSON report is a
:class:`~pytest_actionsec.errors.ReportError` of one line naming it.

Core module: it imports neither pytest nor nova nor Hypothesis.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_actionsec.constants import LAYERS, MODES
from pytest_actionsec.errors import ReportError, read_bounded
from pytest_actionsec.registry import severity_rank

__all__ = ["ReportError", "fingerprint", "load_report", "main", "merge_reports"]

_REQUIRED = ("target", "mode", "seed", "examples_per_property", "layers", "properties")
_VIOLATION_KEYS = ("invariant", "function", "layer", "input", "evidence", "property")
_STATUS = ("failed", "passed", "skipped")  # the merged status: the first any run had


def fingerprint(report: Mapping[str, Any]) -> str:
    """The SHA-256 of a run's report (canonical JSON, ``merged_from`` left out)."""
    body = {k: v for k, v in report.items() if k != "merged_from"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _not_a_report(name: str, why: str) -> ReportError:
    return ReportError(f"{name}: not a pytest-actionsec JSON report ({why})")


def check_report(report: object, name: str = "report") -> dict[str, Any]:
    """``report`` if it has the form of a JSON report; raises :class:`ReportError` naming
    ``name`` and the first thing missing or wrong."""
    if isinstance(report, dict) and "runs" in report and "version" in report:
        raise ReportError(
            f"{name}: a SARIF log, not a JSON report: merge the JSON reports "
            "(--actionsec-report=PATH.json) and pass --sarif for the SARIF"
        )
    if not isinstance(report, dict):
        raise _not_a_report(name, f"a JSON {type(report).__name__}, not an object")
    for key in (*_REQUIRED, "violations"):
        if key not in report:
            raise _not_a_report(name, f"no {key!r}")
    if not isinstance(report["target"], str) or report["mode"] not in MODES:
        raise _not_a_report(name, "its target or mode is not one")
    layers = report["layers"]
    if not isinstance(layers, list) or not layers or any(x not in LAYERS for x in layers):
        raise _not_a_report(name, f"its layers are not a list of {', '.join(LAYERS)}")
    examples = report["examples_per_property"]
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 1:
        raise _not_a_report(name, "examples_per_property is not a positive whole number")
    seed = report["seed"]
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise _not_a_report(name, "its seed is not a whole number")
    properties, violations = report["properties"], report["violations"]
    if not isinstance(properties, list) or not isinstance(violations, list):
        raise _not_a_report(name, "properties or violations is not a list")
    for i, entry in enumerate(properties):
        if not isinstance(entry, dict) or not all(
            k in entry for k in ("id", "family", "function", "layer", "examples", "status")
        ):
            raise _not_a_report(name, f"properties[{i}] is not a property entry")
        if entry["status"] not in _STATUS:
            raise _not_a_report(name, f"properties[{i}] has the status {entry['status']!r}")
    for i, entry in enumerate(violations):
        if not isinstance(entry, dict) or not all(k in entry for k in _VIOLATION_KEYS):
            raise _not_a_report(name, f"violations[{i}] is not a violation entry")
    merged = report.get("merged_from")
    if merged is not None and (
        not isinstance(merged, list)
        or not merged
        or not all(isinstance(m, dict) and isinstance(m.get("fingerprint"), str) for m in merged)
    ):
        raise _not_a_report(name, "merged_from is not a list of runs")
    return report


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON report at ``path``; raises :class:`ReportError` (one line) when the file
    cannot be read or is not a report."""
    name = str(path)
    try:
        text = read_bounded(path)
    except FileNotFoundError:
        raise ReportError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ReportError(f"{name}: cannot be read: {why}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _not_a_report(name, f"not JSON: {exc}") from None
    except RecursionError:
        raise _not_a_report(name, "JSON nested too deeply to read") from None
    return check_report(data, name)


def _runs(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs a report holds: those it was merged from, else itself."""
    merged = report.get("merged_from")
    if merged:
        return [dict(m) for m in merged]
    run = report.get("run")
    said = {"complete": run["complete"]} if isinstance(run, Mapping) and "complete" in run else {}
    return [
        {
            "fingerprint": fingerprint(report),
            "seed": report["seed"],
            "examples_per_property": report["examples_per_property"],
            "layers": list(report["layers"]),
            **said,
        }
    ]


def _finding(v: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two report entries the same finding."""
    tell = f"kind:{v['kind']}" if "kind" in v else f"evidence:{v.get('evidence', '')}"
    return (
        str(v["invariant"]),
        str(v["function"]),
        str(v["layer"]),
        str(v.get("field") or ""),
        tell,
        str(v.get("property") or ""),
    )


def _preference(v: Mapping[str, Any]) -> tuple[Any, ...]:
    """Smaller is kept: new first, then the widest audience, then the shortest input."""
    return (
        bool(v.get("accepted")) or bool(v.get("noted")),
        -severity_rank(v.get("severity")),
        len(str(v.get("input", ""))),
        str(v.get("input", "")),
        str(v.get("evidence", "")),
        json.dumps(v, sort_keys=True, ensure_ascii=False),
    )


def _merge_property(
    entries: Sequence[Mapping[str, Any]], found: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    out = dict(entries[0])
    statuses = {str(e["status"]) for e in entries}
    status = next(s for s in _STATUS if s in statuses)
    out["status"] = status
    reasons = sorted({str(e.get("reason") or "") for e in entries if e["status"] == status} - {""})
    out["reason"] = "; ".join(reasons)
    out["examples"] = sum(int(e.get("examples") or 0) for e in entries)
    if any("seconds" in e for e in entries):
        out["seconds"] = round(sum(float(e.get("seconds") or 0) for e in entries), 3)
    seeds = {e.get("seed") for e in entries}
    if "seed" in out:
        out["seed"] = seeds.pop() if len(seeds) == 1 else None
    found = list(found)
    new = [v for v in found if not v.get("accepted") and not v.get("noted")]
    out["new"] = len(new)
    out["accepted"] = len([v for v in found if v.get("accepted")])
    noted = len([v for v in found if v.get("noted")])
    out.pop("noted", None)
    if noted:
        out["noted"] = noted
    out.pop("severity", None)
    leaks = [str(v["severity"]) for v in new if v.get("severity")]
    if leaks:
        out["severity"] = max(leaks, key=severity_rank)
    return out


def _incomplete(report: Mapping[str, Any]) -> str | None:
    """Why ``report``'s run is incomplete (its ``run`` says so), else None."""
    run = report.get("run")
    if not isinstance(run, Mapping) or run.get("complete", True) is not False:
        return None
    parts = [f"exit status {run.get('exit_status')}"]
    if run.get("interrupted"):
        parts.append("interrupted")
    not_run = run.get("not_run") or []
    if not_run:
        parts.append(f"{len(not_run)} of its {run.get('selected', '?')} properties not run")
    return ", ".join(parts)


def merge_reports(
    reports: Sequence[Mapping[str, Any]],
    names: Sequence[str] | None = None,
    *,
    allow_incomplete: bool = False,
) -> dict[str, Any]:
    """One report of every run of ``reports`` (see the module's docstring); ``names``
    (the files) name an input in errors. Raises :class:`ReportError`, also for the
    report of an incomplete run (interrupted, or properties not run) unless
    ``allow_incomplete``: then the merge's ``run`` says it is incomplete."""
    from pytest_actionsec.report import build_report

    if not reports:
        raise ReportError("no report to merge")
    names = list(names) if names is not None else [f"report {i + 1}" for i in range(len(reports))]
    checked = [check_report(dict(r), n) for r, n in zip(reports, names, strict=True)]
    incomplete = [(n, why) for r, n in zip(checked, names, strict=True) if (why := _incomplete(r))]
    if incomplete and not allow_incomplete:
        name, why = incomplete[0]
        raise ReportError(
            f"{name}: an incomplete run ({why}): merge complete runs, or pass "
            "--allow-incomplete to mark the merge incomplete"
        )
    first, first_name = checked[0], names[0]
    for report, name in zip(checked[1:], names[1:], strict=True):
        for key in ("target", "mode"):
            if report[key] != first[key]:
                raise ReportError(
                    f"{name}: {key} {report[key]!r} differs from {first_name}'s "
                    f"{first[key]!r} (merge the reports of one target and mode)"
                )
    # the runs each input adds; one already merged is skipped, a partial overlap refused
    seen: dict[str, dict[str, Any]] = {}
    kept: list[Mapping[str, Any]] = []
    for report, name in zip(checked, names, strict=True):
        runs = _runs(report)
        prints = {r["fingerprint"] for r in runs}
        shared = prints & set(seen)
        if shared == prints:
            continue  # every run of it is merged already
        if shared:
            raise ReportError(
                f"{name}: shares {len(shared)} of its {len(prints)} runs with the reports "
                "before it: merge the runs' own reports instead"
            )
        seen.update((r["fingerprint"], r) for r in runs)
        kept.append(report)
    fallbacks: dict[str, str] = {}
    functions: dict[str, Any] = {}
    for report, name in zip(checked, names, strict=True):
        for kind, dotted in (report.get("fallbacks") or {}).items():
            if fallbacks.setdefault(kind, dotted) != dotted:
                raise ReportError(
                    f"{name}: its {kind} fallback {dotted!r} differs from {fallbacks[kind]!r}"
                )
        for function, where in (report.get("functions") or {}).items():
            functions.setdefault(function, where)
    best: dict[tuple[str, ...], Mapping[str, Any]] = {}
    inputs: dict[tuple[str, ...], set[str]] = {}
    differed: set[tuple[str, ...]] = set()  # a merged input already said so
    for run in kept:
        # a run's own report: its fingerprint names where an input came from
        origin = None if run.get("merged_from") else fingerprint(run)
        for v in run["violations"]:
            finding = _finding(v)
            inputs.setdefault(finding, set()).add(str(v.get("input", "")))
            if "input_from" in v:
                differed.add(finding)
            elif origin is not None:
                v = {**v, "input_from": origin}
            if finding not in best or _preference(v) < _preference(best[finding]):
                best[finding] = v
    # input_from stays only where the runs' inputs differed: it says whose input is kept
    best = {
        f: v
        if len(inputs[f]) > 1 or f in differed
        else {k: x for k, x in v.items() if k != "input_from"}
        for f, v in best.items()
    }
    by_property: dict[str, list[Mapping[str, Any]]] = {}
    for run in kept:
        for entry in run["properties"]:
            by_property.setdefault(str(entry["id"]), []).append(entry)
    found_by: dict[str, list[Mapping[str, Any]]] = {}
    for v in best.values():
        found_by.setdefault(str(v.get("property") or ""), []).append(v)
    layers = {layer for run in kept for layer in run["layers"]}
    seeds = {run["seed"] for run in kept}
    merged = build_report(
        target=str(first["target"]),
        mode=str(first["mode"]),
        seed=seeds.pop() if len(seeds) == 1 else None,
        examples=max(int(r["examples_per_property"]) for r in kept),
        layers=[layer for layer in LAYERS if layer in layers],
        properties=[
            _merge_property(entries, found_by.get(pid, ())) for pid, entries in by_property.items()
        ],
        violations=list(best.values()),
        functions=functions,
        fallbacks=fallbacks,
    )
    if "root" in first:  # paths stay relative to it (build_report would resolve it here)
        merged = {**merged, "root": first["root"]}
        merged = {k: merged[k] for k in _ORDER if k in merged}
    merged["merged_from"] = sorted(seen.values(), key=lambda r: str(r["fingerprint"]))
    complete = not incomplete and all(
        r.get("complete", True) is not False for r in merged["merged_from"]
    )
    merged["run"] = {
        "exit_status": None,
        "complete": complete,
        "interrupted": any(bool((r.get("run") or {}).get("interrupted")) for r in kept),
        "not_run": sorted(
            {p for r in kept for p in (r.get("run") or {}).get("not_run") or ()}
            - {str(p["id"]) for p in merged["properties"] if p.get("status") != "skipped"}
        ),
    }
    return merged


#: The keys of a report in the order :func:`~pytest_actionsec.report.build_report` writes.
_ORDER = (
    "target",
    "mode",
    "seed",
    "examples_per_property",
    "layers",
    "fallbacks",
    "root",
    "functions",
    "run",
    "properties",
    "violations",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pytest_actionsec.merge OUT.json IN.json... [--sarif OUT.sarif]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m pytest_actionsec.merge",
        description="Merge the JSON reports of several runs (processes, CI runners, shards) "
        "of one target and mode into one JSON report, every finding once.",
    )
    parser.add_argument("out", metavar="OUT.json", help="the merged JSON report to write")
    parser.add_argument("inputs", metavar="IN.json", nargs="+", help="the runs' JSON reports")
    parser.add_argument("--sarif", metavar="OUT.sarif", help="also write the merge as SARIF 2.1.0")
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="merge the reports of incomplete runs (interrupted, properties not run) too, "
        "and mark the merge incomplete",
    )
    args = parser.parse_args(argv)
    from pytest_actionsec import __version__
    from pytest_actionsec.credentials import mask_url
    from pytest_actionsec.report import check_writable, to_sarif, write_atomic

    try:
        reports = [load_report(path) for path in args.inputs]
        merged = merge_reports(reports, args.inputs, allow_incomplete=args.allow_incomplete)
        outputs = [(args.out, merged)]
        if args.sarif:
            outputs.append((args.sarif, to_sarif(merged, tool_version=__version__)))
        for path, _ in outputs:
            problem = check_writable(path)
            if problem is not None:
                raise ReportError(f"{path}: cannot be written: {problem}")
        for path, data in outputs:
            write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    except ReportError as exc:
        parser.exit(2, f"{parser.prog}: error: {mask_url(str(exc))}\n")
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        parser.exit(2, f"{parser.prog}: error: {exc.filename or args.out}: {why}\n")
    new = len([v for v in merged["violations"] if not v.get("accepted") and not v.get("noted")])
    print(
        f"actionsec: merged {len(args.inputs)} report(s), {len(merged['merged_from'])} run(s), "
        f"into {args.out}{' and ' + args.sarif if args.sarif else ''}: "
        f"{len(merged['properties'])} properties, {len(merged['violations'])} finding(s), "
        f"{new} new"
    )
    differing = len([v for v in merged["violations"] if "input_from" in v])
    if differing:
        print(
            f"actionsec: {differing} finding(s) came with different inputs from different "
            "runs: each keeps the shortest, and input_from names the run it came from"
        )
    if not merged["run"]["complete"]:
        print("actionsec: the merge is incomplete: a run was interrupted or left properties")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
