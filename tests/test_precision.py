"""Precision: findings blame what caused them (the packer, the database, an input's class).

Every case keeps both verdicts: the paranoid correct packer (``tests.zoo.paranoid``)
is clean, and a packer with the defect is still caught. Real nova, real sqlite,
real Hypothesis runs. The paranoid packer has its own instance-fault sink
(``add_instance_fault_from_exc``), judged with the helpers at every layer it applies to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import strategies as st

from pytest_actionsec.checks import Checker
from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import Group, GroupResult, builtin_groups, run_group
from pytest_actionsec.oracle import Observation, judge
from pytest_actionsec.report import Baseline
from pytest_actionsec.store import Store
from pytest_actionsec.strategies import Call, ContextSpec, ExcSpec, InstanceSpec, ObjSpec, TbSpec
from pytest_actionsec.targets import FAULT_SINK, Target, resolve_target

pytest.importorskip("nova")

UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"
WHEN = dt.datetime(2026, 11, 22, 12, 0, 0, 250000)
FINISH = "pack_action_event_finish"


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    opened = Store.open(None)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def paranoid() -> Target:
    return resolve_target("tests.zoo.paranoid")


@pytest.fixture(scope="module")
def nova() -> Target:
    return resolve_target()


def _context(**attrs: Any) -> ContextSpec:
    values: dict[str, Any] = {
        "user_id": "u-1",
        "project_id": "p-1",
        "request_id": "req-1",
        "auth_token": None,
        "remote_address": None,
        "service_catalog": [],
        "timestamp": WHEN,
    }
    values.update(attrs)
    return ContextSpec(tuple(values.items()))


def _run(
    target: Target,
    group: Group,
    call: Call | None = None,
    *,
    store: Store | None = None,
    mode: str = "contract",
    seed: int = 1,
    examples: int = 30,
) -> GroupResult:
    with SkewedClock() as clock:
        return run_group(
            group,
            target,
            mode=mode,
            seed=seed,
            max_examples=examples,
            clock=clock,
            database=None,
            store=store,
            strategy=st.just(call) if call is not None else None,
        )


# -- the paranoid packer: no finding, both modes, every layer ----------------------


@pytest.mark.parametrize("mode", ["contract", "hostile"])
@pytest.mark.parametrize("seed", [1, 2])
def test_paranoid_packer_has_no_finding(
    paranoid: Target, store: Store, mode: str, seed: int
) -> None:
    for group in builtin_groups(("packer", "boundary", "store")):
        result = _run(paranoid, group, store=store, mode=mode, seed=seed)
        own = [v.to_dict() for v in result.violations if not v.blame]
        assert result.status == "passed" and not own, (group.id, own)


# -- 1. what the database does on its own to a clean record ------------------------


def _start_without_timestamp() -> Call:
    return Call(
        function="pack_action_start",
        layer="packer",
        context=_context(timestamp=None),
        arguments=(("instance_uuid", UUID), ("action_name", "create")),
        server_time=WHEN,
    )


def test_database_default_on_a_clean_record_is_not_the_packers_finding(
    paranoid: Target, store: Store
) -> None:
    """nova's start_time column default fills a NULL start_time: updated_at stays NULL."""
    result = _run(
        paranoid,
        Group("pack_action_start", "store"),
        _start_without_timestamp(),
        store=store,
        examples=1,
    )
    assert result.status == "passed", [v.to_dict() for v in result.violations]


def test_a_packer_breaking_the_mirror_is_still_caught_at_the_store(store: Store) -> None:
    mutant = resolve_target("tests.zoo.m_time_mirror")
    result = _run(mutant, Group("pack_action_start", "store"), store=store, examples=50)
    assert "time.mirror" in {v.invariant for v in result.violations}


# -- 2/3. a finding caused by an input's own class ----------------------------------


def _bytes_message_call(layer: str = "packer") -> Call:
    from nova.exception import NovaException

    exc = ExcSpec.from_class(NovaException, kwargs=(("message", b"Instance failed"),), trusted=True)
    return Call(
        function=FINISH,
        layer=layer,
        context=_context(),
        arguments=(
            ("instance_uuid", UUID),
            ("event_name", "compute_x"),
            ("exc_val", exc),
            ("exc_tb", "Traceback (most recent call last):\n"),
        ),
        server_time=WHEN,
        hostile=("exc_val message is bytes",),
    )


@pytest.mark.parametrize("layer", ["packer", "boundary"])
def test_bytes_repr_made_by_a_trusted_class_blames_the_class(paranoid: Target, layer: str) -> None:
    result = _run(paranoid, Group(FINISH, layer), _bytes_message_call(layer), examples=1)
    assert result.status == "passed"
    [noted] = [v for v in result.violations if v.invariant == "type.bytes-repr"]
    assert noted.blame == "input class nova.exception.NovaException"
    assert noted.field == "details"
    assert "format_message() itself returns" in noted.evidence
    assert result.for_family("type").status == "passed"


def _bytes_fault_call() -> Call:
    """The sink's twin of :func:`_bytes_message_call`: the trusted bytes message is the fault."""
    from nova.exception import NovaException

    fault = ExcSpec.from_class(
        NovaException, kwargs=(("message", b"Instance failed"),), trusted=True
    )
    return Call(
        function=FAULT_SINK,
        layer="packer",
        context=_context(),
        arguments=(
            ("instance", InstanceSpec(UUID)),
            ("fault", fault),
            ("exc_info", None),
            ("fault_message", None),
        ),
        server_time=WHEN,
        hostile=("trusted exception with non-text message",),
    )


def test_bytes_repr_made_by_a_trusted_fault_class_is_found_in_the_message(
    paranoid: Target,
) -> None:
    """The paranoid sink stores the trusted message verbatim, as its packer does: "b'...'"."""
    result = _run(
        paranoid, Group(FAULT_SINK, "packer"), _bytes_fault_call(), mode="hostile", examples=1
    )
    [noted] = [v for v in result.violations if v.invariant == "type.bytes-repr"]
    assert noted.field == "message"
    assert "b'Instance failed'" in noted.evidence


def test_bytes_repr_made_by_a_trusted_fault_class_blames_the_class(paranoid: Target) -> None:
    """As for event finish: what the fault's own format_message() returns is the class's doing."""
    result = _run(
        paranoid, Group(FAULT_SINK, "packer"), _bytes_fault_call(), mode="hostile", examples=1
    )
    [noted] = [v for v in result.violations if v.invariant == "type.bytes-repr"]
    assert noted.blame == "input class nova.exception.NovaException"
    assert result.status == "passed"


def test_a_packer_that_makes_the_bytes_repr_itself_is_blamed(nova: Target) -> None:
    """Storing str(bytes) of the input is the packer's own defect: no blame."""
    from nova.context import RequestContext

    def packer(
        context: Any, instance_uuid: Any, event_name: Any, exc_val: Any = None, exc_tb: Any = None
    ) -> dict[str, Any]:
        return {
            "event": event_name,
            "instance_uuid": instance_uuid,
            "request_id": context.request_id,
            "finish_time": WHEN,
            "result": "Error",
            "traceback": "tb",
            "details": str(exc_val.args[0]),
        }

    ctx = RequestContext(user_id="u", project_id="p", is_admin=False, request_id="req-1")
    checker = Checker(nova, invariants=["type"])
    found = checker.check(
        FINISH,
        packer(ctx, UUID, "x", ValueError(b"raw"), "tb"),
        context=ctx,
        instance_uuid=UUID,
        event_name="x",
        exc_val=ValueError(b"raw"),
        exc_tb="tb",
    )
    [v] = [v for v in found if v.invariant == "type.bytes-repr"]
    assert v.blame == ""


def test_blamed_findings_are_kept_out_of_baselines(tmp_path: Any) -> None:
    from pytest_actionsec.report import write_baseline

    path = tmp_path / "b.json"
    count = write_baseline(
        path,
        [
            {
                "invariant": "type.bytes-repr",
                "function": FINISH,
                "layer": "packer",
                "field": "details",
                "blame": "input class X",
            },
            {"invariant": "type.field", "function": FINISH, "layer": "packer", "field": "event"},
        ],
    )
    assert count == 1


# -- 5. store refusals name their fields --------------------------------------------


def test_nova_store_refusals_name_traceback_and_instance_uuid(nova: Target, store: Store) -> None:
    """A UUID object and a raw traceback object in one record are two findings."""
    call = Call(
        function=FINISH,
        layer="boundary",
        context=_context(),
        arguments=(
            ("instance_uuid", ObjSpec(f"UUID({UUID!r})")),
            ("event_name", "compute_x"),
            ("exc_val", None),
            ("exc_tb", TbSpec()),
        ),
        server_time=WHEN,
        hostile=("instance_uuid is a UUID object", "positional exc_tb"),
        positional=True,
    )
    result = _run(nova, Group(FINISH, "store"), call, store=store, mode="hostile", examples=1)
    refused = {(v.invariant, v.field) for v in result.violations if v.invariant == "type.store"}
    assert refused == {("type.store", "traceback"), ("type.store", "instance_uuid")}


def test_baselines_of_0_1_without_a_field_still_accept_store_findings() -> None:
    old = Baseline(None, frozenset({("type.store", FINISH, "store", "")}))
    assert old.accepts(
        {"invariant": "type.store", "function": FINISH, "layer": "store", "field": "traceback"}
    )
    assert not old.accepts(
        {"invariant": "type.field", "function": FINISH, "layer": "store", "field": "traceback"}
    )


def test_integrity_columns_names_each_key(nova: Target) -> None:
    obs = Observation(
        function="pack_action_finish",
        layer="packer",
        record={"request_id": "r", "instance_uuid": UUID, "finish_time": WHEN, "message": "m"},
        error=None,
        sources={},
        arguments={"instance_uuid": UUID},
    )
    found = {(v.field, v.evidence) for v in judge(obs, ["integrity"])}
    assert ("message", "record has message, not a column of instance_actions") not in found
    assert {f for f, _ in found} == {"updated_at"}  # message is a column of instance_actions
    obs = dataclasses.replace(
        obs,
        record={
            "request_id": "r",
            "instance_uuid": UUID,
            "finish_time": WHEN,
            "updated_at": WHEN,
            "debug": 1,
        },
    )
    assert {v.field for v in judge(obs, ["integrity"])} == {"debug"}
