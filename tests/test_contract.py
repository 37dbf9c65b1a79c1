"""Facts from the target's own code (issue 20): helpers found on any class, parameter roles,
the record's schema from the target's objects, versioned facts, and a layer only where it
is real. Against real nova 34 and small targets of our own in the shapes of older nova
releases and of a project that copied nova's helpers (tests/targets/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_actionsec.contract import VERSIONED_FACTS, role_of
from pytest_actionsec.engine import run_of, run_pipeline
from pytest_actionsec.oracle import FAMILIES, Violation
from pytest_actionsec.store import Store
from pytest_actionsec.targets import COLUMNS, FACTS, HELPERS, Target, resolve_target

ROOT = Path(__file__).resolve().parents[1]
ALL = tuple(FAMILIES)
COPIED = "tests.targets.copied_helpers"
ROCKY = "tests.targets.nova_rocky"
PIKE = "tests.targets.nova_pike"


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with Store.open() as opened:
        yield opened


def _findings(
    target: Target,
    function: str,
    layer: str = "packer",
    *,
    mode: str = "contract",
    seeds: tuple[int, ...] = (1, 2),
    store: Store | None = None,
) -> list[Violation]:
    found: list[Violation] = []
    for seed in seeds:
        run = run_of(function, layer, has_boundary=target.boundary is not None)
        result = run_pipeline(
            target, run, {layer: ALL}, mode=mode, max_examples=40, seed=seed, store=store
        )
        found += [v for v in result.violations if not v.blame]
    return found


# ---------------------------------------------------------------------------
# The rules.


@pytest.mark.parametrize(
    ("index", "name", "role"),
    [
        (0, "ctxt", "context"),
        (1, "instance_uuid", "resource"),
        (1, "container_uuid", "resource"),
        (1, "server_id", "resource"),
        (2, "action_name", "name"),
        (2, "event_name", "name"),
        (3, "host", "host"),
        (3, "exc_val", "exception"),
        (4, "exc_tb", "traceback"),
        (4, "want_result", "other"),
    ],
)
def test_a_parameter_s_role_comes_from_its_name_and_position(
    index: int, name: str, role: str
) -> None:
    assert role_of(index, name) == role


def test_nova_34_derives_exactly_nova_34_s_facts_and_columns() -> None:
    target = resolve_target()
    assert target.contract is not None and target.nova_records
    assert target.contract.holds == {f.key for f in VERSIONED_FACTS}
    for name in HELPERS:
        derived, table = target.facts_of(name), FACTS[name]
        for attr in ("table", "positional", "keywords", "required", "copies", "mirror"):
            assert getattr(derived, attr) == getattr(table, attr), (name, attr)
        assert list(derived.copies) == list(table.copies)  # findings keep their order
        assert dict(target.columns_of(name)) == dict(COLUMNS[table.table])


def test_the_column_table_is_nova_s_own_models() -> None:
    from nova.db.main import models

    lengths = {"Text": 65535, "MediumText": 16777215}
    kinds = {"String": "str", "Text": "text", "MediumText": "text", "DateTime": "datetime"}
    for model in (models.InstanceAction, models.InstanceActionEvent, models.InstanceFault):
        for column in model.__table__.columns:
            type_name = type(column.type).__name__
            variant = getattr(column.type, "_variant_mapping", {}).get("mysql")
            if variant is not None and type(variant).__name__ == "MEDIUMTEXT":
                type_name = "MediumText"  # nova's MediumText: Text, MEDIUMTEXT on MySQL
            kind = kinds.get(type_name, "int")
            limit = getattr(column.type, "length", None) or lengths.get(type_name)
            assert COLUMNS[model.__tablename__][column.name] == (kind, limit), column.name


# ---------------------------------------------------------------------------
# A project that copied nova's helpers, renamed (shaped like OpenStack Zun).


def test_a_copied_module_resolves_by_its_dotted_name_alone() -> None:
    target = resolve_target(COPIED, sink="none", boundary="none")
    start = target.facts_of("pack_action_start")
    assert start.owner == "ContainerAction" and start.resource == "container_uuid"
    assert start.own_name("instance_uuid") == "container_uuid"
    assert "container_uuid" in start.required and "instance_uuid" not in start.required
    finish = target.facts_of("pack_action_finish")  # takes the name and the exception too
    assert finish.positional == ("instance_uuid", "action_name")
    assert finish.keywords == ("exc_val", "exc_tb")
    assert finish.copies["action"] == ("arg", "action_name")
    event_start = target.facts_of("pack_action_event_start")  # no host
    assert event_start.keywords == () and "host" not in event_start.copies
    assert target.facts_of("pack_action_event_finish").owner == "ContainerActionEvent"
    assert not target.nova_records
    assert target.contract is not None and target.contract.holds == frozenset()
    assert "container_uuid" in target.contract.not_nova


def test_a_copied_module_s_store_and_api_items_skip_with_one_line(store: Store) -> None:
    target = resolve_target(COPIED, sink="none", boundary="none")
    for layer in ("store", "api"):
        run = run_of("pack_action_start", layer, has_boundary=False)
        result = run_pipeline(target, run, {layer: ALL}, max_examples=5, seed=1, store=store)
        assert result.status == "skipped"
        assert "not nova's records" in result.reason and "\n" not in result.reason


@pytest.mark.parametrize("mode", ["contract", "hostile"])
def test_a_copied_module_s_extra_parameters_are_fuzzed_and_its_own_id_checked(
    mode: str,
) -> None:
    target = resolve_target(COPIED, sink="none", boundary="none")
    found = _findings(target, "pack_action_finish", mode=mode)
    # its finish copies the action name and never stores the exception's text
    assert not [v for v in found if v.family == "leak"]
    if mode == "hostile":  # a container uuid of the wrong type is judged on its own field
        assert any(v.field == "container_uuid" for v in found)
    assert not any(v.field == "instance_uuid" for v in found)


def test_hostile_reasons_name_the_copied_module_s_own_parameters() -> None:
    """Why a drawn call is hostile names the parameter as the target calls it (Zun's
    ``container_uuid``), never nova's name for it."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pytest_actionsec.strategies import calls

    target = resolve_target(COPIED, sink="none", boundary="none")
    seen: list[str] = []

    @settings(max_examples=200, database=None, deadline=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        call = data.draw(calls(target, "pack_action_finish", mode="hostile"))
        seen.extend(call.hostile)

    check()
    assert any(r.startswith("container_uuid not a 36-character string") for r in seen), seen
    assert not any("instance_uuid" in r for r in seen), seen


def test_a_copied_module_s_contract_findings_are_the_true_one() -> None:
    target = resolve_target(COPIED, sink="none", boundary="none")
    found = {
        (v.invariant, v.function, v.field) for name in HELPERS for v in _findings(target, name)
    }
    # the event finish packs the exception as ``message``: no field of its event, dropped
    assert found == {("integrity.columns", "pack_action_event_finish", "message")}


# ---------------------------------------------------------------------------
# Older nova releases: the versioned facts.


def test_an_event_without_details_is_not_owed_details(store: Store) -> None:
    target = resolve_target(ROCKY)
    assert target.contract is not None
    assert target.contract.holds == {"mirror", "host"}
    assert target.contract.versions["InstanceActionEvent"] == "1.2"
    assert target.nova_records  # nova's records: nova's database and API stages are real
    for layer in ("packer", "boundary", "store", "api"):
        found = _findings(
            target, "pack_action_event_finish", layer, store=store, seeds=(1,), mode="hostile"
        )
        assert not [v for v in found if v.invariant == "integrity.details"], layer
        # the exception packed as ``message`` is no column: never a leak, only an extra key
        assert not [v for v in found if v.family == "leak" and v.field == "message"], layer
        extra = [v for v in found if v.invariant == "integrity.columns"]
        assert {v.field for v in extra} <= {"message"}, layer


def test_a_release_before_the_mirror_is_not_owed_updated_at() -> None:
    target = resolve_target(PIKE)
    assert target.contract is not None and target.contract.holds == frozenset()
    for name in ("pack_action_start", "pack_action_finish"):
        assert target.facts_of(name).mirror is None
        assert "updated_at" not in target.facts_of(name).required
        found = _findings(target, name)
        assert not [v for v in found if v.field == "updated_at"], name
    assert target.facts_of("pack_action_event_start").keywords == ()  # no host before 1.2


def test_the_version_s_facts_still_bite_where_they_hold() -> None:
    # nova 34's event finish owes details: a target of nova's shape that drops them is caught
    target = resolve_target("tests.zoo.m_integrity_trusted_details")
    assert "details" in target.facts_of("pack_action_event_finish").holds
    found = _findings(target, "pack_action_event_finish", seeds=(1, 2, 3))
    assert any(v.invariant.startswith("integrity.") for v in found)


# ---------------------------------------------------------------------------
# The whole suite on a copied module, as a user runs it.


def test_the_suite_runs_a_copied_module_and_reports_only_the_true_finding(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--actionsec",
            f"--actionsec-target={COPIED}",
            "--actionsec-sink=none",
            "--actionsec-boundary=none",
            "--actionsec-notifier=none",
            "--actionsec-seed=3",
            f"--actionsec-report={report}",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(report.read_text())
    found = {(v["invariant"], v["function"], v["layer"], v["field"]) for v in data["violations"]}
    assert found == {
        ("integrity.columns", "pack_action_event_finish", "packer", "message"),
    }
    skipped = [p for p in data["properties"] if p["layer"] in ("store", "api")]
    assert skipped and all(p["status"] == "skipped" for p in skipped)
    assert "Traceback" not in proc.stdout


# ---------------------------------------------------------------------------
# A project's own store stage (tests/targets/copied_store.py: a real sqlite database with
# the project's own tables).

OWN_STORE = "tests.targets.copied_store.open_store"


def test_a_project_s_own_store_stage_stores_its_records() -> None:
    target = resolve_target(COPIED, sink="none", boundary="none", store_stage=OWN_STORE)
    assert target.store_factory is not None and target.store_stage_origin == OWN_STORE
    store = target.store_factory(target)
    try:
        contract = _findings(target, "pack_action_start", "store", store=store)
        hostile = _findings(target, "pack_action_start", "store", store=store, mode="hostile")
        api = run_pipeline(
            target, run_of("pack_action_start", "api", has_boundary=False), {"api": ALL},
            max_examples=5, seed=1, store=store,
        )  # fmt: skip
    finally:
        store.close()
    assert contract == []  # a correct copy stored by its own database: nothing to report
    # a UUID object for container_uuid: the project's sqlite cannot bind it
    assert any(v.invariant == "type.store" and v.field == "container_uuid" for v in hostile)
    assert api.status == "skipped" and "not nova's records" in api.reason


def test_a_store_stage_entry_point_is_found_by_the_target_s_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "copied_project_stages-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: copied-project-stages\n")
    (dist / "entry_points.txt").write_text(
        f"[pytest_actionsec.store_stages]\n{COPIED} = tests.targets.copied_store:open_store\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    target = resolve_target(COPIED, sink="none", boundary="none")
    assert target.store_factory is not None
    assert target.store_stage_origin.startswith(f"entry point {COPIED} = ")
    off = resolve_target(COPIED, sink="none", boundary="none", store_stage="none")
    assert off.store_factory is None


def test_a_bad_store_stage_is_a_one_line_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", "--actionsec", f"--actionsec-target={COPIED}",
            "--actionsec-sink=none", "--actionsec-boundary=none",
            "--actionsec-store-stage=tests.targets.copied_store.no_such_factory",
            "-q", "-p", "no:cacheprovider",
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stdout[-1500:] + proc.stderr[-1500:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "--actionsec-store-stage" in errors[0], proc.stderr
    assert "no_such_factory" in errors[0] and "Traceback" not in proc.stderr
