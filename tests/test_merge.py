"""Merging the reports of several runs: ``python -m pytest_actionsec.merge``.

The reports are real: three processes of ``pytest --actionsec`` against
``tests.zoo.m_leak_cause`` with three seeds, sharing one example database (a real Redis
under a key prefix of this module's own when one answers, else a directory), as a
campaign over three CI runners would. Each finds the same defects with its own inputs
and canary tokens; the merge keeps each finding once.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_actionsec.merge import ReportError, check_report, fingerprint, merge_reports

ROOT = Path(__file__).resolve().parents[1]
MUTANT = "tests.zoo.m_leak_cause"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
REDIS_URL = os.environ.get("ACTIONSEC_TEST_REDIS", "redis://127.0.0.1:6379/0")
SEEDS = (1, 2, 3)

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def _shared_database(tmp: Path) -> tuple[str, Any]:
    """A Redis URL of this module's own prefix (and its client), else a directory."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except Exception:
        return str(tmp / "shared-db"), None
    prefix = f"actionsec-test-merge-{uuid.uuid4().hex[:12]}:"
    return f"{REDIS_URL}?prefix={prefix}", (client, prefix)


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("CI", None)
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(cwd / "storage")
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """The JSON reports of three runs (three seeds, one shared database)."""
    tmp = tmp_path_factory.mktemp("campaign")
    database, redis_client = _shared_database(tmp)
    paths = []
    try:
        for seed in SEEDS:
            path = tmp / f"run{seed}.json"
            done = _run(
                tmp,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--actionsec",
                f"--actionsec-target={MUTANT}",
                "--actionsec-layers=packer,boundary",
                "--actionsec-examples=20",
                f"--actionsec-seed={seed}",
                f"--actionsec-database={database}",
                f"--actionsec-report={path}",
            )
            assert done.returncode == 1, done.stdout[-3000:]  # the mutant's leak is found
            paths.append(path)
        yield paths
    finally:
        if redis_client is not None:
            client, prefix = redis_client
            keys = list(client.scan_iter(match=prefix.encode() + b"*"))
            if keys:
                client.delete(*keys)
            client.close()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _identity(v: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        v["invariant"],
        v["function"],
        v["layer"],
        str(v["field"] or ""),
        v["kind"],
        v["property"],
    )


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(cwd, "-m", "pytest_actionsec.merge", *args)


def test_three_runs_merge_into_one_report_every_finding_once(
    runs: list[Path], tmp_path: Path
) -> None:
    from jsonschema import Draft4Validator, Draft202012Validator

    reports = [_load(p) for p in runs]
    found = [{_identity(v) for v in r["violations"]} for r in reports]
    # every report lists each of its findings once, and the runs give different inputs
    assert all(len(ids) == len(r["violations"]) for ids, r in zip(found, reports, strict=True))
    assert len({r["violations"][0]["input"] for r in reports}) > 1
    done = _cli(tmp_path, "all.json", *map(str, runs), "--sarif", "all.sarif")
    assert done.returncode == 0, done.stderr
    merged = _load(tmp_path / "all.json")
    ids = [_identity(v) for v in merged["violations"]]
    assert len(ids) == len(set(ids))  # once
    assert set(ids) == set().union(*found)  # every one
    schema = json.loads((ROOT / "pytest_actionsec" / "report.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(merged)) == []
    assert [m["seed"] for m in sorted(merged["merged_from"], key=lambda m: m["seed"])] == [1, 2, 3]
    assert merged["seed"] is None  # the runs' seeds differ: each is in merged_from
    # each property once, its examples summed, failed when a run failed it
    by_id = {p["id"]: p for p in merged["properties"]}
    assert len(by_id) == len(merged["properties"]) == len(reports[0]["properties"])
    for pid, entry in by_id.items():
        entries = [next(p for p in r["properties"] if p["id"] == pid) for r in reports]
        assert entry["examples"] == sum(e["examples"] for e in entries)
        assert (entry["status"] == "failed") == any(e["status"] == "failed" for e in entries)
        mine = [v for v in merged["violations"] if v["property"] == pid]
        assert entry["new"] == len([v for v in mine if not v["accepted"] and not v.get("noted")])
    sarif = _load(tmp_path / "all.sarif")
    sarif_schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert list(Draft4Validator(sarif_schema).iter_errors(sarif)) == []
    assert len(sarif["runs"][0]["results"]) == len(merged["violations"])
    assert "3 run(s)" in done.stdout and f"{len(ids)} finding(s)" in done.stdout


def test_merge_is_idempotent_and_order_free(runs: list[Path]) -> None:
    a, b, c = (_load(p) for p in runs)
    abc = merge_reports([a, b, c])
    assert merge_reports([abc]) == abc
    assert merge_reports([abc, b]) == abc  # a run merged already is not counted again
    assert merge_reports([a, a, b, c, c]) == abc
    assert merge_reports([c, a, b]) == abc
    assert merge_reports([merge_reports([a, b]), c]) == abc
    assert merge_reports([a, merge_reports([b, c])]) == abc
    # one run's merge is that run, with where it came from and how it ended
    alone = merge_reports([a])
    assert alone.pop("merged_from") == [
        {
            "fingerprint": fingerprint(a),
            "seed": a["seed"],
            "examples_per_property": a["examples_per_property"],
            "layers": a["layers"],
            "complete": True,
        }
    ]
    assert a.pop("run") == {
        "exit_status": 1,
        "complete": True,
        "interrupted": False,
        "selected": len(a["properties"]),
        "not_run": [],
    }
    assert alone.pop("run") == {
        "exit_status": None,
        "complete": True,
        "interrupted": False,
        "not_run": [],
    }
    assert alone == a


def test_merged_reports_that_share_only_some_runs_are_refused(runs: list[Path]) -> None:
    a, b, c = (_load(p) for p in runs)
    with pytest.raises(ReportError, match=r"^second: shares 1 of its 2 runs with the reports"):
        merge_reports([merge_reports([a, b]), merge_reports([b, c])], ["first", "second"])


def _report(violations: list[dict[str, Any]], seed: int = 1) -> dict[str, Any]:
    pid = "leak-pack_action_start-packer"
    return {
        "target": "nova.objects.instance_action",
        "mode": "contract",
        "seed": seed,
        "examples_per_property": 10,
        "layers": ["packer"],
        "fallbacks": {},
        "properties": [
            {
                "id": pid,
                "family": "leak",
                "function": "pack_action_start",
                "layer": "packer",
                "examples": 10,
                "status": "failed" if violations else "passed",
                "reason": "",
                "new": len(violations),
                "accepted": 0,
            }
        ],
        "violations": violations,
    }


def _violation(**changes: Any) -> dict[str, Any]:
    entry = {
        "invariant": "leak.field",
        "family": "leak",
        "function": "pack_action_start",
        "layer": "packer",
        "field": "message",
        "input": "x",
        "evidence": "canary found in message",
        "property": "leak-pack_action_start-packer",
        "kind": "admin",
        "severity": "admin",
        "accepted": False,
    }
    entry.update(changes)
    return entry


def test_distinct_findings_are_kept_and_the_same_one_once() -> None:
    one = _report([_violation(input="a longer input", evidence="token 1")], seed=1)
    two = _report(
        [
            _violation(input="short", evidence="token 2"),  # the same finding: shorter input
            _violation(kind="tenant", severity="tenant", evidence="e"),  # another kind
            _violation(field="details", evidence="e"),  # another field
        ],
        seed=2,
    )
    merged = merge_reports([one, two])
    kept = {(v["field"], v["kind"]): v for v in merged["violations"]}
    assert len(merged["violations"]) == 3 == len(kept)
    assert kept[("message", "admin")]["input"] == "short"
    assert merged["properties"][0]["new"] == 3
    assert merged["properties"][0]["severity"] == "tenant"
    assert merged["properties"][0]["examples"] == 20
    # a new entry wins over an accepted one, whatever the order
    accepted = _report([_violation(input="", accepted=True)], seed=3)
    for order in ([accepted, one], [one, accepted]):
        (v,) = merge_reports(order)["violations"]
        assert v["accepted"] is False
        assert merge_reports(order)["properties"][0]["accepted"] == 0


def test_entries_without_a_kind_are_told_apart_by_evidence() -> None:
    old = [{k: v for k, v in _violation(evidence=e).items() if k != "kind"} for e in "ab"]
    merged = merge_reports([_report(old[:1], seed=1), _report(old[1:], seed=2)])
    assert sorted(v["evidence"] for v in merged["violations"]) == ["a", "b"]  # none lost
    same = merge_reports([_report(old[:1], seed=1), _report(old[:1], seed=2)])
    assert len(same["violations"]) == 1


def test_reports_of_another_target_or_mode_are_refused() -> None:
    one = _report([])
    other = copy.deepcopy(one)
    other["mode"] = "hostile"
    with pytest.raises(ReportError, match=r"^b\.json: mode 'hostile' differs from a\.json's"):
        merge_reports([one, other], ["a.json", "b.json"])
    other = dict(one, target="fork.instance_action")
    with pytest.raises(ReportError, match=r"^b\.json: target 'fork\.instance_action' differs"):
        merge_reports([one, other], ["a.json", "b.json"])


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not json", "x.json: not a pytest-actionsec JSON report (not JSON: Expecting value"),
        ("[1, 2]", "x.json: not a pytest-actionsec JSON report (a JSON list, not an object)"),
        ('{"target": "t"}', "x.json: not a pytest-actionsec JSON report (no 'mode')"),
        (
            '{"version": "2.1.0", "runs": []}',
            "x.json: a SARIF log, not a JSON report: merge the JSON reports",
        ),
        ("\udcff", "x.json: cannot be read: "),
    ],
)
def test_a_file_that_is_not_a_report_is_a_one_line_error(
    runs: list[Path], tmp_path: Path, text: str, error: str
) -> None:
    bad = tmp_path / "x.json"
    bad.write_bytes(text.encode("utf-8", "surrogateescape"))
    done = _cli(tmp_path, "out.json", str(runs[0]), "x.json")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("python -m pytest_actionsec.merge: error: " + error), lines
    assert not (tmp_path / "out.json").exists()


def test_a_missing_file_or_a_broken_entry_is_named() -> None:
    from pytest_actionsec.merge import load_report

    with pytest.raises(ReportError, match=r"^nowhere\.json: no such file$"):
        load_report("nowhere.json")
    report = _report([_violation()])
    broken = [
        (dict(report, layers=["db"]), "its layers are not a list"),
        (dict(report, examples_per_property=0), "examples_per_property is not a positive"),
        (dict(report, properties=[{"id": "x"}]), "properties[0] is not a property entry"),
        (dict(report, violations=[{"invariant": "x"}]), "violations[0] is not a violation"),
        (dict(report, merged_from=[]), "merged_from is not a list of runs"),
    ]
    for data, why in broken:
        with pytest.raises(ReportError) as info:
            check_report(data, "r.json")
        assert str(info.value).startswith("r.json: not a pytest-actionsec JSON report ("), info
        assert why in str(info.value)
    assert check_report(report) is report  # a well-formed one passes


def test_the_command_line_names_its_usage(tmp_path: Path) -> None:
    done = _cli(tmp_path, "out.json")
    assert done.returncode == 2
    assert "the following arguments are required: IN.json" in done.stderr


# -- reports say whether their run completed (issue 33) ---------------------------------

_INTERRUPT_AFTER_TWO = """
import pytest

_seen = []

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    if item.nodeid.startswith("actionsec["):
        _seen.append(item.nodeid)
        if len(_seen) == 3:
            raise KeyboardInterrupt  # what SIGINT raises in the main thread
"""


def test_an_interrupted_run_is_marked_and_merge_refuses_it(
    tmp_path: Path, runs: list[Path]
) -> None:
    (tmp_path / "conftest.py").write_text(_INTERRUPT_AFTER_TWO, encoding="utf-8")
    report = tmp_path / "cut.json"
    done = _run(
        tmp_path,
        *("-m", "pytest", "-p", "no:cacheprovider", "--actionsec", f"--actionsec-target={MUTANT}"),
        *("--actionsec-layers=packer,boundary", "--actionsec-examples=5", "--actionsec-seed=1"),
        f"--actionsec-report={report}",
    )
    assert done.returncode == 2, done.stdout[-3000:]  # pytest's "interrupted"
    cut = json.loads(report.read_text(encoding="utf-8"))
    run = cut["run"]
    assert run["exit_status"] == 2 and run["interrupted"] and not run["complete"]
    assert run["not_run"] and run["selected"] > len(cut["properties"]) >= 0
    assert set(run["not_run"]) | {p["id"] for p in cut["properties"]} <= {
        p["id"] for p in _load(runs[0])["properties"]
    }
    merged = tmp_path / "merged.json"
    refused = _run(tmp_path, "-m", "pytest_actionsec.merge", str(merged), str(runs[0]), str(report))
    assert refused.returncode == 2 and not merged.exists()
    (line,) = refused.stderr.strip().splitlines()
    assert f"{report}: an incomplete run (exit status 2, interrupted" in line, line
    taken = _run(
        tmp_path,
        *("-m", "pytest_actionsec.merge", str(merged), str(runs[0]), str(report)),
        "--allow-incomplete",
    )
    assert taken.returncode == 0, taken.stderr
    assert "the merge is incomplete" in taken.stdout
    out = json.loads(merged.read_text(encoding="utf-8"))
    assert out["run"]["complete"] is False and out["run"]["interrupted"] is True
    assert {r.get("complete") for r in out["merged_from"]} == {True, False}


def test_a_finding_s_input_from_another_run_is_named(runs: list[Path]) -> None:
    a = _load(runs[0])
    b = copy.deepcopy(a)
    b["seed"] = 99  # another run, with a shorter input for the same finding
    shorter = b["violations"][0]
    shorter["input"] = "# shorter\n"
    merged = merge_reports([a, b])
    (kept,) = [v for v in merged["violations"] if v["input"] == "# shorter\n"]
    assert kept["input_from"] == fingerprint(b)
    same = [v for v in merged["violations"] if v is not kept]
    assert all("input_from" not in v for v in same)  # identical inputs: nothing to say
    assert merge_reports([merged]) == merged
