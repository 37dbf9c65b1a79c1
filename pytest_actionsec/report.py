"""Reports and baselines: JSON and SARIF 2.1.0 output, accepted findings.

The JSON report::

    {"target", "mode", "seed", "examples_per_property", "layers", "root"?,
     "functions"?: {function: {"path", "line", "name"}},
     "properties": [{"id", "function", "layer", "examples", "status", ...}],
     "violations": [{"invariant", "family", "function", "layer", "field",
                     "input", "evidence", "property", "accepted",
                     "severity"?, "audience"?, "blame"?, "noted"?, "location"?}]}

``functions`` says where each function fuzzed is defined (the function the target
calls: nova's sink in ``nova/compute/utils.py``, decorators unwrapped; the ``def``
line); a crash's ``location`` is where its exception was raised (the innermost frame
outside the plugin). Paths are relative to ``root`` (the git work tree holding pytest's
rootdir, else the rootdir) for the checkout's own source, absolute otherwise (installed
code, under ``site-packages``, is never the checkout's). In SARIF the function's
definition is each result's location (a relative path under ``uriBaseId``
``%SRCROOT%``, which ``originalUriBaseIds`` maps to ``root``), with ``region.startLine``;
a crash's raise site is its ``relatedLocations`` entry.

``severity`` is who reads a leaked secret through Nova's API, coarsely (``tenant``,
``admin``, ``stored``), and ``audience`` the personas that read it (narrowest first:
see :mod:`pytest_actionsec.personas`; the severity is the widest one's level);
``noted`` marks a finding that never fails the run (its
``blame`` names an input's class, or its severity is below
``--actionsec-min-severity``).

``property`` is the id of the built-in property that found the violation (a
``crash.timeout`` may be found by ``leak-pack_action_start-packer``).

A baseline is a JSON file of accepted findings, matched on (invariant,
function, layer, field) so that CI fails only on new regressions; an entry with a
``severity`` accepts a leak of that audience or a lower one, so a leak that
reaches a tenant still fails where an admin-only one was accepted. The property
that found a violation is not part of the match: a finding accepted once is
accepted whichever property finds it, and baselines written before reports
named the property still match.

A key an entry leaves out, or gives as ``"*"``, matches any value: ``{"invariant":
"crash.api"}`` accepts that invariant on every helper, layer and field, and
``"field": "*"`` on every field (``"field": null`` is a finding without a field).
An entry's ``mode`` and ``target`` (written by ``--actionsec-update-baseline``)
limit it to runs of that mode and target; without them it applies to every run.
An entry that matches nothing the plugin knows (an unknown invariant, helper,
layer or mode) is a one-line warning in the summary.

``python -m pytest_actionsec.merge OUT.json IN.json... [--sarif OUT.sarif]`` merges
the reports of several runs into one, every finding once (see
:mod:`pytest_actionsec.merge`).

``--actionsec-update-baseline`` merges: entries of another mode or target, or of
properties (family, helper, layer) the run did not run or skipped, are kept
untouched; the entries of what it ran are replaced by what it found (a wildcard
entry stays while a finding falls under it, and goes only when the run covered all
it spans without one). The summary says how many were added, removed, still
found and kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Collection, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_actionsec.errors import read_bounded
from pytest_actionsec.locations import relative_path
from pytest_actionsec.oracle import INVARIANTS, SEVERITIES, Violation, severity_rank

__all__ = [
    "ANY",
    "BASELINE_VERSION",
    "SECURITY_SEVERITY",
    "Baseline",
    "BaselineError",
    "BaselineUpdate",
    "RunScope",
    "build_report",
    "check_writable",
    "run_status",
    "summary_lines",
    "to_sarif",
    "update_baseline",
    "write_atomic",
    "write_baseline",
    "write_report",
]

BASELINE_VERSION = 1
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_KEY_FIELDS = ("invariant", "function", "layer", "field")
#: An entry's value that matches anything (as does leaving the key out).
ANY = "*"
#: Keys of an entry that scope it (left out: every mode, every target).
_SCOPE_FIELDS = ("mode", "target")


class BaselineError(Exception):
    """A baseline file that cannot be read; the message is one line."""


def _key(v: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return tuple(str(v.get(k) or "") for k in _KEY_FIELDS)  # type: ignore[return-value]


#: Invariants whose findings named no field before 0.2: a baseline entry of theirs
#: with no field accepts the finding on every field (baselines written by 0.1.0).
FIELDLESS_BEFORE_0_2 = frozenset({"type.store", "bounds.store", "integrity.columns"})


def _wild(entry: Mapping[str, Any], name: str) -> bool:
    """True when ``entry`` matches any value of ``name``: left out, ``"*"`` (or, for
    every key but ``field``, null: no finding lacks a helper, layer, mode or target)."""
    if name not in entry or entry[name] == ANY:
        return True
    return name != "field" and entry[name] is None


@dataclass(frozen=True)
class _Pattern:
    """An entry with a wildcard: None matches any value ("" is a finding without a field)."""

    invariant: str
    function: str | None
    layer: str | None
    field: str | None
    #: the highest audience accepted; None accepts every one
    ceiling: str | None

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> _Pattern:
        def part(name: str) -> str | None:
            return None if _wild(entry, name) else str(entry[name] or "")

        return cls(
            str(entry["invariant"]),
            part("function"),
            part("layer"),
            part("field"),
            entry.get("severity"),
        )

    def matches(self, key: tuple[str, str, str, str]) -> bool:
        """True when ``key`` (invariant, function, layer, field) falls under this entry."""
        return key[0] == self.invariant and all(
            mine is None or mine == theirs
            for mine, theirs in zip((self.function, self.layer, self.field), key[1:], strict=True)
        )

    def allows(self, severity: str) -> bool:
        return self.ceiling is None or severity_rank(severity) <= severity_rank(self.ceiling)


def _in_scope(entry: Mapping[str, Any], mode: str | None, target: str | None) -> bool:
    """True when ``entry`` applies to a run of ``mode`` on ``target`` (None: any run)."""
    return all(
        want is None or _wild(entry, name) or entry[name] == want
        for name, want in (("mode", mode), ("target", target))
    )


@dataclass(frozen=True)
class Baseline:
    """Accepted findings, keyed on (invariant, function, layer, field).

    An entry without a field of an invariant in :data:`FIELDLESS_BEFORE_0_2`
    accepts that invariant on every field of the helper and layer. An entry that
    leaves out ``function``, ``layer`` or ``field`` (or gives ``"*"``) accepts the
    finding whatever that key is (:attr:`patterns`); one that leaves out ``mode`` or
    ``target`` applies to every run (:meth:`scoped` keeps the entries of one run).
    """

    path: str | None
    accepted: frozenset[tuple[str, str, str, str]]
    #: entries with a ``severity``: the highest audience they accept (an entry
    #: without one accepts every severity, as before 0.2)
    ceilings: Mapping[tuple[str, str, str, str], str] = field(default_factory=dict)
    #: entries with a wildcard, each with its own severity ceiling
    patterns: tuple[_Pattern, ...] = ()
    #: the file's entries as read (for :func:`write_baseline` and :meth:`unknown`)
    entries: tuple[Mapping[str, Any], ...] = ()
    #: the file's other top-level keys (a later tool's or the user's): written back as read
    extra: Mapping[str, Any] = field(default_factory=dict)

    def _has(self, key: tuple[str, str, str, str], severity: str = "") -> bool:
        if any(p.matches(key) and p.allows(severity) for p in self.patterns):
            return True
        if key not in self.accepted:
            if not (key[0] in FIELDLESS_BEFORE_0_2 and (*key[:3], "") in self.accepted):
                return False
            key = (*key[:3], "")
        ceiling = self.ceilings.get(key)
        return ceiling is None or severity_rank(severity) <= severity_rank(ceiling)

    @classmethod
    def empty(cls) -> Baseline:
        """A baseline that accepts nothing."""
        return cls(None, frozenset())

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, missing_ok: bool = False) -> Baseline:
        """Read a baseline file; a missing file is an empty baseline when ``missing_ok``."""
        p = Path(path)
        if not p.exists():
            if missing_ok:
                return cls(str(p), frozenset())
            raise BaselineError(f"baseline {str(p)!r} does not exist")
        try:
            data = json.loads(read_bounded(p))
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.errno == 0 else exc
            raise BaselineError(f"baseline {str(p)!r} is not readable JSON: {why}") from None
        except RecursionError:
            raise BaselineError(f"baseline {str(p)!r} is nested too deeply to read") from None
        if not isinstance(data, dict) or not isinstance(data.get("accepted"), list):
            raise BaselineError(f"baseline {str(p)!r} has no 'accepted' list")
        version = data.get("version", BASELINE_VERSION)
        if type(version) is not int or not 1 <= version <= BASELINE_VERSION:
            raise BaselineError(
                f"baseline {str(p)!r} has version {version!r}; this pytest-actionsec reads "
                f"version {BASELINE_VERSION} (a newer plugin wrote it?)"
            )
        for entry in data["accepted"]:
            if not isinstance(entry, dict) or "invariant" not in entry:
                raise BaselineError(f"baseline {str(p)!r} has an entry without 'invariant'")
            severity = entry.get("severity")
            if severity is not None and severity not in SEVERITIES:
                raise BaselineError(
                    f"baseline {str(p)!r}: entry {entry['invariant']} has severity "
                    f"{severity!r}, not one of {', '.join(SEVERITIES)}"
                )
        extra = {k: v for k, v in data.items() if k not in ("version", "comment", "accepted")}
        return dataclasses.replace(cls._of(str(p), data["accepted"]), extra=extra)

    @classmethod
    def _of(cls, path: str | None, entries: Iterable[Mapping[str, Any]]) -> Baseline:
        entries = tuple(entries)
        keys = set()
        ceilings: dict[tuple[str, str, str, str], str] = {}
        unlimited = set()
        patterns = []
        for entry in entries:
            if any(_wild(entry, k) for k in _KEY_FIELDS[1:]):
                patterns.append(_Pattern.of(entry))
                continue
            key = _key(entry)
            keys.add(key)
            severity = entry.get("severity")
            if severity is None:
                unlimited.add(key)
            elif severity_rank(severity) > severity_rank(ceilings.get(key)):
                ceilings[key] = severity
        for key in unlimited:  # an entry without a severity accepts them all
            ceilings.pop(key, None)
        return cls(path, frozenset(keys), ceilings, tuple(patterns), entries)

    def scoped(self, mode: str, target: str) -> Baseline:
        """The entries that apply to a run of ``mode`` on ``target`` (those naming
        another mode or target are left out)."""
        return Baseline._of(self.path, (e for e in self.entries if _in_scope(e, mode, target)))

    def unknown(
        self,
        invariants: Container[str],
        groups: Collection[tuple[str, str]],
        modes: Container[str],
        name: str | None = None,
    ) -> list[str]:
        """One line per entry that matches nothing the plugin knows: an unknown invariant,
        helper, layer or mode, or a helper at a layer it is never run at (``name``: the
        file as the user wrote it)."""
        name = name or self.path or "baseline"
        lines = []
        functions = {f for f, _ in groups}
        layers = {layer for _, layer in groups}
        for entry in self.entries:
            pattern = _Pattern.of(entry)
            why = ""
            if pattern.invariant not in invariants:
                why = f"unknown invariant {pattern.invariant!r}"
            elif pattern.function is not None and pattern.function not in functions:
                why = f"unknown helper {pattern.function!r}"
            elif pattern.layer is not None and pattern.layer not in layers:
                why = f"unknown layer {pattern.layer!r}"
            elif not _wild(entry, "mode") and entry["mode"] not in modes:
                why = f"unknown mode {entry['mode']!r}"
            elif not any(
                pattern.function in (None, f) and pattern.layer in (None, layer)
                for f, layer in groups
            ):
                why = f"{pattern.function} is never run at the {pattern.layer} layer"
            if why:
                shown = json.dumps(
                    {k: v for k, v in entry.items() if k != "evidence"}, ensure_ascii=False
                )
                lines.append(f"actionsec: warning: {name}: entry {shown} matches nothing: {why}")
        return lines

    def accepts(self, violation: Mapping[str, Any] | Violation) -> bool:
        """True when ``violation`` (a Violation, report entry or its to_dict()) is accepted:
        its key is listed, and its severity is at most the entry's (when it has one)."""
        if isinstance(violation, Violation):
            return self._has(_violation_key(violation), violation.severity)
        return self._has(_key(violation), str(violation.get("severity") or ""))

    def partition(self, violations: Iterable[Violation]) -> tuple[list[Violation], list[Violation]]:
        """(new, accepted): each violation looked up once by its key, order kept."""
        new: list[Violation] = []
        accepted: list[Violation] = []
        for v in violations:
            (accepted if self._has(_violation_key(v), v.severity) else new).append(v)
        return new, accepted


def _violation_key(v: Violation) -> tuple[str, str, str, str]:
    return (v.invariant or "", v.function or "", v.layer or "", v.field or "")


@dataclass(frozen=True)
class RunScope:
    """What one run covered, for :func:`write_baseline`'s merge.

    ``properties`` holds the (family, function, layer) of every property that ran
    (a skipped one did not); ``groups`` every (function, layer) the plugin knows,
    the span of an entry with a wildcard helper or layer.
    """

    mode: str
    target: str
    properties: frozenset[tuple[str, str, str]]
    groups: frozenset[tuple[str, str]]

    def span(self, entry: Mapping[str, Any]) -> set[tuple[str, str, str]]:
        """The properties that could find ``entry``'s findings (empty: unknown invariant)."""
        inv = INVARIANTS.get(str(entry["invariant"]))
        if inv is None:
            return set()
        p = _Pattern.of(entry)
        return {
            (inv.family, f, layer)
            for f, layer in self.groups
            if p.function in (None, f) and p.layer in (None, layer)
        }


@dataclass(frozen=True)
class BaselineUpdate:
    """What :func:`write_baseline` did: entries added, removed (their properties ran
    and found nothing they match), kept because still found, kept because not run."""

    written: int
    added: int = 0
    removed: int = 0
    found: int = 0
    not_run: int = 0

    def line(self, path: str | None) -> str:
        """``actionsec: baseline b.json: 2 added, 1 removed, 3 still found, 4 kept (not run)``."""
        return (
            f"actionsec: baseline {path}: {self.added} added, {self.removed} removed, "
            f"{self.found} still found, {self.not_run} kept (not run)"
        )


def _entries_of(
    violations: Iterable[Mapping[str, Any]], scope: RunScope | None = None
) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """One entry per distinct finding key, at the highest audience seen."""
    entries: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for v in violations:
        if v.get("blame"):  # not the code's finding: nothing to accept
            continue
        entry = entries.setdefault(
            _key(v),
            {
                "invariant": v["invariant"],
                "function": v["function"],
                "layer": v["layer"],
                "field": v.get("field"),
                **({"mode": scope.mode, "target": scope.target} if scope else {}),
                "evidence": v.get("evidence", ""),
                **({"severity": v["severity"]} if v.get("severity") else {}),
            },
        )
        # the entry accepts the highest audience seen; a finding without one, every one
        if "severity" in entry:
            seen = v.get("severity")
            if not seen:
                del entry["severity"]
            elif severity_rank(seen) > severity_rank(entry["severity"]):
                entry["severity"] = seen
    return entries


def _order(entry: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        "" if entry.get(k) is None else str(entry[k]) for k in (*_KEY_FIELDS, *_SCOPE_FIELDS)
    )


def write_baseline(
    path: str | os.PathLike[str],
    violations: Iterable[Mapping[str, Any]],
    *,
    keep: Iterable[Mapping[str, Any]] = (),
    scope: RunScope | None = None,
    extra: Mapping[str, Any] | None = None,
    carry: Mapping[tuple[str, str, str, str], Mapping[str, Any]] | None = None,
) -> int:
    """Write every distinct finding of ``violations`` as accepted, with the entries
    ``keep`` (and, given ``scope``, the run's mode and target on each new entry);
    returns how many entries the file holds. ``extra``: the file's other top-level
    keys, written back; ``carry``: by finding key, an old entry whose keys the new one
    lacks (a user's ``reason``, say) are kept on it."""
    fresh = _entries_of(violations, scope)
    for key, old in (carry or {}).items():
        if key in fresh:
            fresh[key] = {**{k: v for k, v in old.items() if k not in fresh[key]}, **fresh[key]}
    entries = [*keep, *fresh.values()]
    data = {
        **(extra or {}),
        "version": BASELINE_VERSION,
        "comment": "Accepted pytest-actionsec findings; CI fails only on findings not listed here.",
        "accepted": sorted(entries, key=_order),
    }
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return len(entries)


def update_baseline(
    path: str | os.PathLike[str], violations: Iterable[Mapping[str, Any]], scope: RunScope
) -> BaselineUpdate:
    """Merge what a run found into the baseline at ``path`` (created when missing).

    An entry of another mode or target, or of properties the run did not cover, is
    kept untouched. One the run covered is replaced by what the run found: a
    finding's own entry is rewritten from the run's finding or removed; an entry with
    a wildcard stays while a finding falls under it, and goes only when the run
    covered all it spans and found nothing under it. New entries record the run's
    mode and target.
    """
    with _locked(path):
        return _update_baseline(path, violations, scope)


@contextlib.contextmanager
def _locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """An exclusive lock on ``path``'s directory while a baseline there is read, merged
    and written: concurrent updates (two CI jobs, two ``-k`` runs) merge in turn, each
    with what the other wrote (``flock``; where there is none, no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _update_baseline(
    path: str | os.PathLike[str], violations: Iterable[Mapping[str, Any]], scope: RunScope
) -> BaselineUpdate:
    found = [v for v in violations if not v.get("blame")]
    fresh = _entries_of(found, scope)
    baseline = Baseline.load(path, missing_ok=True)
    old = baseline.entries
    kept: list[Mapping[str, Any]] = []
    carry: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
    replaced: set[tuple[str, str, str, str]] = set()
    removed = still = not_run = 0
    for entry in old:
        span = scope.span(entry)
        run = span & scope.properties
        if not run or not _in_scope(entry, scope.mode, scope.target):
            kept.append(entry)
            not_run += 1
        elif not any(_wild(entry, k) for k in _KEY_FIELDS[1:]):
            # one finding's entry: rewritten from this run's finding, or removed
            if _key(entry) in fresh:
                replaced.add(_key(entry))
                carry[_key(entry)] = entry
                still += 1
            else:
                removed += 1
        elif any(_Pattern.of(entry).matches(key) for key in fresh):
            kept.append(entry)
            still += 1
        elif run != span:  # partly run: what it accepts elsewhere may still be there
            kept.append(entry)
            not_run += 1
        else:
            removed += 1
    # a finding a kept entry of this run's scope accepts (its wildcard, or a property
    # not run) needs no entry; one of another mode or target does not count
    keeping = Baseline._of(None, kept).scoped(scope.mode, scope.target)
    new = {k for k, e in fresh.items() if not keeping.accepts(e)}
    written = write_baseline(
        path,
        [v for v in found if _key(v) in new],
        keep=kept,
        scope=scope,
        extra=baseline.extra,
        carry=carry,
    )
    return BaselineUpdate(written, len(new - replaced), removed, still, not_run)


def build_report(
    *,
    target: str,
    mode: str,
    seed: int | None,
    examples: int,
    layers: Sequence[str],
    properties: Iterable[Mapping[str, Any]],
    violations: Iterable[Mapping[str, Any]],
    root: str | os.PathLike[str] | None = None,
    functions: Mapping[str, Mapping[str, Any]] | None = None,
    fallbacks: Mapping[str, str] | None = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the JSON report (properties and violations sorted for stable output).

    ``run`` says how the run ended (:func:`run_status`).

    ``fallbacks`` names nova's functions the run fuzzed for want of the target's own
    (``{"boundary": "nova.objects.base.serialize_args"}``; ``sink`` likewise).

    ``functions`` maps each function fuzzed to where it is defined (``name``, ``path``,
    ``line``); with ``root`` (the checkout, see :func:`~pytest_actionsec.locations.source_root`)
    its paths and the crash sites of ``violations`` are written relative to it when the
    file is the checkout's own source, absolute otherwise.
    """

    def placed(where: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(where)
        if root is not None and os.path.isabs(str(out.get("path", ""))):
            out["path"] = relative_path(out["path"], root) or out["path"]
        return out

    def violation(v: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(v)
        if isinstance(out.get("location"), Mapping):
            out["location"] = placed(out["location"])
        return out

    return {
        "target": target,
        "mode": mode,
        "seed": seed,
        "examples_per_property": examples,
        "layers": list(layers),
        "fallbacks": dict(sorted((fallbacks or {}).items())),
        **({"root": str(Path(root).resolve())} if root is not None else {}),
        **(
            {"functions": {name: placed(functions[name]) for name in sorted(functions)}}
            if functions
            else {}
        ),
        **({"run": dict(run)} if run is not None else {}),
        "properties": sorted((dict(p) for p in properties), key=lambda p: str(p["id"])),
        "violations": sorted(
            (violation(v) for v in violations),
            key=lambda v: (_key(v), str(v.get("evidence", "")), str(v.get("property") or "")),
        ),
    }


def run_status(
    exit_status: int | None, *, interrupted: bool, selected: Iterable[str], reported: Iterable[str]
) -> dict[str, Any]:
    """The report's ``run``: pytest's exit status, whether the run was interrupted, and
    the properties it selected that reported nothing; complete when neither."""
    chosen = set(selected)
    not_run = sorted(chosen - set(reported))
    return {
        "exit_status": exit_status,
        "complete": not interrupted and not not_run,
        "interrupted": interrupted,
        "selected": len(chosen),
        "not_run": not_run,
    }


#: The SARIF ``uriBaseId`` of paths relative to the checkout (``originalUriBaseIds``
#: gives its absolute URI).
SRCROOT = "%SRCROOT%"


def _module_uri(module: str) -> str | None:
    """The target module's file (reports without ``functions``: its absolute URI)."""
    import sys

    path = getattr(sys.modules.get(module), "__file__", None)
    if not path:
        return None
    return Path(path).resolve().as_uri()


def _physical(where: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A SARIF physicalLocation for ``{"path", "line"}``: a relative path under
    :data:`SRCROOT`, an absolute one as a ``file://`` URI."""
    if not where or not where.get("path"):
        return None
    path = str(where["path"])
    artifact: dict[str, Any]
    if os.path.isabs(path):
        artifact = {"uri": Path(path).as_uri()}
    else:
        artifact = {"uri": path, "uriBaseId": SRCROOT}
    out: dict[str, Any] = {"artifactLocation": artifact}
    line = where.get("line")
    if isinstance(line, int) and line >= 1:
        out["region"] = {"startLine": line}
    return out


#: SARIF ``security-severity`` (a CVSS-like 0-10 score, as GitHub code scanning reads
#: it) of a leak by its audience.
SECURITY_SEVERITY: Mapping[str, str] = {
    "tenant": "8.5",
    "bus": "6.5",  # h-notify: the notification bus's consumers
    "admin": "5.0",
    "stored": "3.0",
}
#: SARIF ``level`` of a new leak by its audience.
_LEAK_LEVEL = {"tenant": "error", "bus": "warning", "admin": "warning", "stored": "note"}


def _level(v: Mapping[str, Any]) -> str:
    if v.get("accepted") or v.get("blame") or v.get("noted"):
        return "note"
    return _LEAK_LEVEL.get(str(v.get("severity") or ""), "error")


def to_sarif(report: Mapping[str, Any], *, tool_version: str) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (one rule per invariant)."""
    rules = [
        {
            "id": inv.id,
            "name": inv.id.replace(".", "_").replace("-", "_"),
            "shortDescription": {"text": inv.statement},
            "fullDescription": {"text": f"{inv.statement} Source: {inv.source}."},
            "properties": {
                "family": inv.family,
                "source": inv.source,
                # code scanning ranks a rule by its score: a leak's is its worst audience
                **(
                    {"security-severity": SECURITY_SEVERITY["tenant"], "tags": ["security"]}
                    if inv.family == "leak"
                    else {}
                ),
            },
        }
        for inv in INVARIANTS.values()
    ]
    index = {r["id"]: i for i, r in enumerate(rules)}
    functions: Mapping[str, Mapping[str, Any]] = report.get("functions") or {}
    fallback = _module_uri(str(report["target"])) if not functions else None
    results = []
    relative = False
    for v in report["violations"]:
        where = functions.get(v["function"])
        logical = str(where.get("name") or "") if where else ""
        logical = logical or f"{report['target']}.{v['function']}"
        physical = _physical(where)
        if physical is None and fallback:
            physical = {"artifactLocation": {"uri": fallback}}
        # a crash's raise site: related, the function under test stays primary (see docs)
        raised = _physical(v.get("location"))
        related = []
        if raised is not None:
            name = v["location"].get("name")
            related.append(
                {
                    "id": 1,
                    "physicalLocation": raised,
                    "message": {"text": "raised here" + (f" (in {name})" if name else "")},
                }
            )
        for loc in (physical, raised):
            relative = relative or bool(loc and "uriBaseId" in loc["artifactLocation"])
        at = v.get("location")
        results.append(
            {
                "ruleId": v["invariant"],
                "ruleIndex": index.get(v["invariant"], -1),
                "level": _level(v),
                "baselineState": "unchanged" if v.get("accepted") else "new",
                "message": {
                    "text": f"[{v['layer']}] {v['function']}"
                    + (f" field {v['field']}" if v.get("field") else "")
                    + f": {v['evidence']}"
                    + (f" (raised at {at['path']}:{at['line']})" if raised is not None else "")
                },
                "locations": [
                    {
                        "logicalLocations": [{"fullyQualifiedName": logical, "kind": "function"}],
                        **({"physicalLocation": physical} if physical else {}),
                    }
                ],
                **({"relatedLocations": related} if related else {}),
                "partialFingerprints": {"actionsecKey/v1": "|".join(_key(v))},
                "properties": {
                    "family": v["family"],
                    "layer": v["layer"],
                    "field": v.get("field"),
                    "input": v["input"],
                    "property": v.get("property"),
                    **(
                        {
                            "severity": v["severity"],
                            "security-severity": SECURITY_SEVERITY[v["severity"]],
                            **({"audience": v["audience"]} if v.get("audience") else {}),
                        }
                        if v.get("severity") in SECURITY_SEVERITY
                        else {}
                    ),
                },
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "pytest-actionsec",
                        "version": tool_version,
                        "informationUri": "https://pypi.org/project/pytest-actionsec/",
                        "rules": rules,
                    }
                },
                "results": results,
                **(
                    {"originalUriBaseIds": {SRCROOT: {"uri": Path(report["root"]).as_uri() + "/"}}}
                    if relative and report.get("root")
                    else {}
                ),
                "properties": {
                    "target": report["target"],
                    "mode": report["mode"],
                    "seed": report["seed"],
                    "examples_per_property": report["examples_per_property"],
                },
            }
        ],
    }


def write_report(
    path: str | os.PathLike[str], report: Mapping[str, Any], *, tool_version: str
) -> None:
    """Write ``report`` as JSON, or SARIF 2.1.0 when ``path`` ends in ``.sarif``."""
    p = Path(path)
    data: Mapping[str, Any] = report
    if p.suffix.lower() == ".sarif":
        data = to_sarif(report, tool_version=tool_version)
    write_atomic(p, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def check_writable(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be written by :func:`write_atomic` (one line), or None.

    Creates missing parent directories and a temporary file beside ``path``
    (removed again): what the write at the end of the run will need.
    """
    p = Path(path)
    if p.is_dir():
        return f"{p} is a directory"
    if p.exists() and not p.is_file():
        return f"{p} is not a regular file"
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the directory {p.parent}: {exc.strerror or exc}"
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as exc:
        return f"cannot create a file in {p.parent}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(tmp)
    return None


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` at once: a temporary file beside it, then
    :func:`os.replace`. Missing parent directories are created; on any failure the
    temporary file is removed and ``path`` is left as it was (the error is raised).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = p.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _verdict(p: Mapping[str, Any]) -> str:
    if p["status"] == "failed" and not p["new"]:
        return f"accepted ({p['accepted']} known)"
    if p["status"] == "failed":
        return (
            f"FAILED ({p['new']} new"
            + (f", {p['accepted']} accepted" if p["accepted"] else "")
            + (f"; leak.{p['severity']}" if p.get("severity") else "")
            + ")"
        )
    if p["status"] == "skipped":
        return f"skipped: {p.get('reason', '')}"
    if p.get("noted"):
        return f"{p['status']} ({p['noted']} noted, not failing)"
    return str(p["status"])


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def summary_lines(
    properties: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    replay: str,
    baseline: str | None = None,
    baseline_written: int | None = None,
    baseline_update: BaselineUpdate | None = None,
    baseline_warnings: Sequence[str] = (),
    report: str | None = None,
    fallbacks: Mapping[str, str] | None = None,
) -> list[str]:
    """The terminal summary: one line per property (family, helper, layer, examples, verdict),
    the totals, and one line per fallback of ``fallbacks`` (nova's function fuzzed for want
    of the target's own, by kind: ``sink``, ``boundary``)."""
    rows = sorted(properties, key=lambda p: (p["layer"], p["function"], p["family"]))
    width = max([10, *(len(p["family"]) for p in rows)])
    lines = [f"{'property':<{width}} {'helper':<26} {'layer':<9} {'examples':>8}  verdict"]
    for p in rows:
        lines.append(
            f"{p['family']:<{width}} {p['function']:<26} {p['layer']:<9} {p['examples']:>8}  "
            f"{_verdict(p)}"
        )
    new = sum(p["new"] for p in rows)
    accepted = sum(p["accepted"] for p in rows)
    # one Hypothesis run judges every layer of its pipeline (entries name it; older ones
    # are one run per helper and layer)
    runs: dict[Any, int] = {}
    for p in rows:  # a run's skipped layers have no examples: the run's count is its most
        key = p.get("run") or (p["function"], p["layer"])
        runs[key] = max(runs.get(key, 0), int(p["examples"] or 0))
    lines.append(
        f"actionsec: {_count(len(rows), 'property', 'properties')} in "
        f"{_count(len(runs), 'Hypothesis run', 'Hypothesis runs')}, "
        f"{sum(runs.values())} examples, "
        f"{new} new violation(s), {accepted} accepted; seed {seed} (replay with {replay})"
    )
    for kind, dotted in sorted((fallbacks or {}).items()):
        what, flag = {
            "sink": ("fault sink", "--actionsec-sink"),
            "notifier": ("notification sink", "--actionsec-notifier"),  # h-notify
        }.get(kind, ("RPC boundary", "--actionsec-boundary"))
        lines.append(
            f"actionsec: fallback: the target has no {what} of its own; nova's {dotted} was "
            f"fuzzed in its place (choose with {flag}=DOTTED or {flag}=none)"
        )
    if baseline_written is not None:
        lines.append(f"actionsec: baseline {baseline} now accepts {baseline_written} finding(s)")
    if baseline_update is not None:
        lines.append(baseline_update.line(baseline))
    lines.extend(baseline_warnings)
    if report:
        lines.append(f"actionsec: report written to {report}")
    return lines
