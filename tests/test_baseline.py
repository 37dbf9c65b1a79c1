"""Baselines: a narrow --actionsec-update-baseline merges, entries that match nothing
warn, and an entry that leaves keys out is a wildcard over them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_actionsec.report import Baseline

pytest_plugins = ["pytester"]

NOVA_FAST = ["--actionsec-examples=10", "--actionsec-layers=packer", "--actionsec-seed=7"]
FINISH = "pack_action_event_finish"
SINK = "add_instance_fault_from_exc"


@pytest.fixture(scope="module", autouse=True)
def nova_imported_first() -> None:
    """Import nova before any in-process run (see tests/test_plugin.py)."""
    import freezegun  # noqa: F401

    from pytest_actionsec.targets import resolve_target

    resolve_target("nova.objects.instance_action")


def _entry(
    invariant: str, function: str, layer: str, field: str | None, **more: Any
) -> dict[str, Any]:
    return {"invariant": invariant, "function": function, "layer": layer, "field": field, **more}


def _write(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"version": 1, "accepted": entries}), encoding="utf-8")


def _accepted(path: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["accepted"]
    return data


def test_a_narrow_update_keeps_what_the_run_did_not_cover(pytester: pytest.Pytester) -> None:
    """-k integrity on one helper at the packer layer: only that property's entries change."""
    found = _entry("integrity.details", FINISH, "packer", "details")  # every contract run
    gone = _entry("integrity.result", FINISH, "packer", "result")  # covered, never found
    other_layer = _entry("integrity.details", FINISH, "store", "details", evidence="kept")
    other_family = _entry("crash.contract", FINISH, "packer", None, evidence="kept")
    other_helper = _entry("integrity.ids", "pack_action_start", "packer", "user_id")
    other_mode = _entry("integrity.result", FINISH, "packer", "result", mode="hostile")
    kept = [other_layer, other_family, other_helper, other_mode]
    _write(pytester.path / "base.json", [found, gone, *kept])

    result = pytester.runpytest(
        "--actionsec",
        *NOVA_FAST,
        "-k",
        f"integrity and {FINISH}",
        "--actionsec-baseline=base.json",
        "--actionsec-update-baseline",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["actionsec: baseline base.json: 0 added, 1 removed, 1 still found, 4 kept (not run)"]
    )
    written = _accepted(pytester.path / "base.json")
    for entry in kept:  # untouched, evidence and all
        assert entry in written
    assert gone not in written
    (rewritten,) = [
        e for e in written if e["invariant"] == "integrity.details" and e["layer"] == "packer"
    ]
    assert rewritten["mode"] == "contract" and rewritten["target"] == "nova.objects.instance_action"
    assert len(written) == 5

    # the next run with the merged baseline fails on nothing it accepted before
    again = pytester.runpytest(
        "--actionsec", *NOVA_FAST, "-k", f"integrity and {FINISH}", "--actionsec-baseline=base.json"
    )
    assert again.ret == pytest.ExitCode.OK


def test_an_update_adds_what_a_run_found(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--actionsec",
        *NOVA_FAST,
        "-k",
        f"integrity and {FINISH}",
        "--actionsec-baseline=new.json",
        "--actionsec-update-baseline",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["actionsec: baseline new.json: 1 added, 0 removed, 0 still found, 0 kept (not run)"]
    )
    (entry,) = _accepted(pytester.path / "new.json")
    assert entry["invariant"] == "integrity.details" and entry["mode"] == "contract"


def test_an_entry_that_matches_nothing_is_a_one_line_warning(pytester: pytest.Pytester) -> None:
    bad = [
        _entry("integrity.nope", FINISH, "packer", None),
        _entry("integrity.details", "pack_action_nope", "packer", "details"),
        _entry("integrity.details", FINISH, "disk", "details"),
        _entry("integrity.details", "pack_action_start", "boundary", "details"),
        _entry("integrity.details", FINISH, "packer", "details", mode="paranoid"),
    ]
    good = _entry("integrity.details", FINISH, "packer", "details")
    _write(pytester.path / "base.json", [*bad, good])
    result = pytester.runpytest(
        "--actionsec", *NOVA_FAST, "-k", f"integrity and {FINISH}", "--actionsec-baseline=base.json"
    )
    assert result.ret == pytest.ExitCode.OK  # a warning, not an error
    warnings = [line for line in result.outlines if line.startswith("actionsec: warning:")]
    assert len(warnings) == len(bad)
    for line, why in zip(
        warnings,
        [
            "unknown invariant 'integrity.nope'",
            "unknown helper 'pack_action_nope'",
            "unknown layer 'disk'",
            "pack_action_start is never run at the boundary layer",
            "unknown mode 'paranoid'",
        ],
        strict=True,
    ):
        assert line.startswith("actionsec: warning: base.json: entry {")
        assert line.endswith(f"matches nothing: {why}"), line
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_an_invariant_only_entry_accepts_the_invariant_everywhere(
    pytester: pytest.Pytester,
) -> None:
    """{"invariant": X} accepts X on every helper, layer and field (it was ignored)."""
    args = ["--actionsec", *NOVA_FAST, "-k", f"integrity and {FINISH}", "--actionsec-report=r.json"]
    _write(pytester.path / "base.json", [{"invariant": "integrity.details"}])
    result = pytester.runpytest(*args, "--actionsec-baseline=base.json")
    assert result.ret == pytest.ExitCode.OK
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["violations"] and all(v["accepted"] for v in report["violations"])
    # another invariant's entry accepts nothing of it
    _write(pytester.path / "base.json", [{"invariant": "integrity.result"}])
    assert pytester.runpytest(*args, "--actionsec-baseline=base.json").ret == 1


def test_left_out_keys_and_star_are_wildcards_null_field_is_no_field(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _write(
        path,
        [
            {"invariant": "bounds.column", "function": "pack_action_start"},
            {"invariant": "type.field", "function": FINISH, "layer": "*", "field": "*"},
            {"invariant": "crash.contract", "function": SINK, "layer": "packer", "field": None},
        ],
    )
    b = Baseline.load(path)
    assert b.accepts(_entry("bounds.column", "pack_action_start", "api", "user_id"))
    assert not b.accepts(_entry("bounds.column", "pack_action_finish", "api", "user_id"))
    assert b.accepts(_entry("type.field", FINISH, "boundary", "traceback"))
    assert not b.accepts(_entry("type.field", "pack_action_start", "packer", "user_id"))
    assert b.accepts(_entry("crash.contract", SINK, "packer", None))
    assert not b.accepts(_entry("crash.contract", SINK, "packer", "details"))


def test_an_entry_of_another_mode_does_not_apply(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    finding = _entry("integrity.details", FINISH, "packer", "details")
    _write(path, [{**finding, "mode": "hostile"}, {"invariant": "crash.api", "mode": "contract"}])
    b = Baseline.load(path)
    assert b.scoped("hostile", "t").accepts(finding)
    assert not b.scoped("contract", "t").accepts(finding)
    assert b.scoped("contract", "t").accepts(_entry("crash.api", FINISH, "api", None))
    assert not b.scoped("hostile", "t").accepts(_entry("crash.api", FINISH, "api", None))


def test_a_wildcard_entry_stays_while_found_and_goes_when_all_it_spans_found_nothing(
    tmp_path: Path,
) -> None:
    from pytest_actionsec.report import RunScope, update_baseline
    from pytest_actionsec.suite import known_groups as _known_groups

    path = tmp_path / "b.json"
    wild_found = {"invariant": "bounds.column", "function": "pack_action_start", "field": "*"}
    wild_partly = {"invariant": "type.field", "function": "pack_action_finish"}
    wild_gone = {"invariant": "bounds.utf8", "function": "pack_action_finish", "layer": "packer"}
    _write(path, [wild_found, wild_partly, wild_gone])
    scope = RunScope(
        mode="contract",
        target="t",
        properties=frozenset(
            {
                ("bounds", "pack_action_start", "packer"),
                ("bounds", "pack_action_finish", "packer"),
                ("type", "pack_action_finish", "packer"),  # not store, api: partly run
            }
        ),
        groups=_known_groups(),
    )
    found = [
        {**_entry("bounds.column", "pack_action_start", "packer", "user_id"), "family": "bounds"},
        {
            **_entry("bounds.column", "pack_action_finish", "packer", "request_id"),
            "family": "bounds",
        },
    ]
    update = update_baseline(path, found, scope)
    written = _accepted(path)
    assert wild_found in written and wild_partly in written and wild_gone not in written
    assert (update.added, update.removed, update.found, update.not_run) == (1, 1, 1, 1)
    (added,) = [e for e in written if e not in (wild_found, wild_partly)]
    assert added["function"] == "pack_action_finish" and added["field"] == "request_id"


# -- a gate its environment cannot fool: writers, modes, versions, depth (issue 33) ------


def _scope(mode: str, *properties: tuple[str, str, str]) -> Any:
    from pytest_actionsec.report import RunScope
    from pytest_actionsec.suite import known_groups

    return RunScope(mode=mode, target="t", properties=frozenset(properties), groups=known_groups())


def _found(invariant: str, function: str, field: str) -> dict[str, Any]:
    return {**_entry(invariant, function, "packer", field), "family": invariant.split(".")[0]}


def _slow_update(path: str, mode: str, family: str, function: str, field: str) -> None:
    """update_baseline in another process, pausing between reading and writing the
    file: without a lock, two of them both read the file before either writes."""
    import time

    from pytest_actionsec import report

    real = report.write_baseline

    def write_late(*args: Any, **kwargs: Any) -> int:
        time.sleep(1.0)
        return real(*args, **kwargs)

    report.write_baseline = write_late  # type: ignore[assignment]
    report.update_baseline(
        path,
        [_found(f"{family}.field", function, field)],
        _scope(mode, (family, function, "packer")),
    )


def test_concurrent_updates_keep_both_sets_of_entries(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "b.json"
    context = multiprocessing.get_context("spawn")
    jobs = [
        context.Process(
            target=_slow_update, args=(str(path), "contract", "leak", "pack_action_start", "a")
        ),
        context.Process(
            target=_slow_update, args=(str(path), "contract", "type", "pack_action_finish", "b")
        ),
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(120)
        assert job.exitcode == 0
    fields = sorted(e["field"] for e in _accepted(path))
    assert fields == ["a", "b"], _accepted(path)


def test_one_baseline_serves_both_modes(tmp_path: Path) -> None:
    from pytest_actionsec.report import Baseline, update_baseline

    path = tmp_path / "b.json"
    prop = ("integrity", FINISH, "packer")
    finding = _found("integrity.details", FINISH, "details")
    first = update_baseline(path, [finding], _scope("contract", prop))
    second = update_baseline(path, [finding], _scope("hostile", prop))
    assert (first.added, second.added) == (1, 1)
    modes = sorted(e["mode"] for e in _accepted(path))
    assert modes == ["contract", "hostile"]
    for mode in modes:  # the next gate run of either mode accepts it
        assert Baseline.load(path).scoped(mode, "t").accepts(finding)
    again = update_baseline(path, [finding], _scope("hostile", prop))
    assert (again.added, again.found) == (0, 1) and len(_accepted(path)) == 2


def test_a_user_s_keys_survive_an_update(tmp_path: Path) -> None:
    from pytest_actionsec.report import update_baseline

    path = tmp_path / "b.json"
    mine = _entry("integrity.details", FINISH, "packer", "details", mode="contract", target="t")
    mine["reason"] = "nova bug 2109087, fixed upstream in 2027.1"
    path.write_text(
        json.dumps({"version": 1, "owner": "security team", "accepted": [mine]}), encoding="utf-8"
    )
    prop = ("integrity", FINISH, "packer")
    update_baseline(
        path, [_found("integrity.details", FINISH, "details")], _scope("contract", prop)
    )
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["owner"] == "security team"
    (entry,) = data["accepted"]
    assert entry["reason"] == mine["reason"] and entry["evidence"] == ""


@pytest.mark.parametrize("version", [99, 0, "1", None])
def test_a_baseline_of_an_unknown_version_is_a_one_line_error(tmp_path: Path, version: Any) -> None:
    from pytest_actionsec.report import BaselineError

    path = tmp_path / "b.json"
    path.write_text(json.dumps({"version": version, "accepted": []}), encoding="utf-8")
    with pytest.raises(BaselineError, match=r"has version .*reads version 1") as caught:
        Baseline.load(path)
    assert "\n" not in str(caught.value)


def test_deep_json_is_a_one_line_error_for_baseline_merge_and_policy(tmp_path: Path) -> None:
    import subprocess
    import sys

    from pytest_actionsec.policies import PolicyError, load_policies
    from pytest_actionsec.report import BaselineError

    deep = "[" * 100_000 + "]" * 100_000
    baseline = tmp_path / "b.json"
    baseline.write_text('{"version": 1, "accepted": ' + deep + "}", encoding="utf-8")
    with pytest.raises(BaselineError, match="nested too deeply"):
        Baseline.load(baseline)
    policy = tmp_path / "policy.yaml"
    policy.write_text('{"rule": ' + deep + "}", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"nested too deeply|not YAML or JSON"):
        load_policies([str(policy)])
    done = subprocess.run(
        [sys.executable, "-m", "pytest_actionsec.merge", str(tmp_path / "o.json"), str(baseline)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "nested too deeply" in done.stderr and "Traceback" not in done.stderr
