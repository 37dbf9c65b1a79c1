"""The exposure layer against real nova: its controller, view builder and default policies.

Every assertion on what a caller reads is made on a record whose fields hold distinct
markers, and checks that a marker is (or is not) in the rendered output, so each can
fail. Where nova 34 differs from what one might expect, the test asserts what nova
does and quotes the nova source line.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_actionsec import exposure
from pytest_actionsec.exposure import (
    KINDS,
    MICROVERSIONS,
    ROLES,
    SERVER_PROJECT_ID,
    ExposureError,
    influencing_fields,
    marked_fields,
    render_action,
    render_event,
    render_fault,
    visible_fields,
)

pytest.importorskip("nova")

ACTION: dict[str, Any] = {
    "action": "@action@",
    "request_id": "req-@request_id@",
    "instance_uuid": "5e7ae75e-0000-4000-8000-00000000abcd",
    "user_id": "@user_id@",
    "project_id": "@project_id@",
    "start_time": "2011-01-01T00:00:00",
    "finish_time": "2012-01-01T00:00:00",
    "updated_at": "2013-01-01T00:00:00",
    "message": "@message@",
}
EVENT: dict[str, Any] = {
    "event": "@event@",
    "start_time": "2014-01-01T00:00:00",
    "finish_time": "2015-01-01T00:00:00",
    "result": "Error",
    "traceback": "@traceback@",
    "host": "@host@",
    "details": "@details@",
}
FAULT: dict[str, Any] = {
    "code": 500,
    "message": "@fault-message@",
    "details": "@fault-details@",
    "host": "@fault-host@",
}


def _text(rendered: Any) -> str:
    return json.dumps(rendered)


def _event(role: str, microversion: str) -> dict[str, Any]:
    return render_event(ACTION, EVENT, role=role, microversion=microversion)


# --- the module itself -------------------------------------------------------------------------


def test_import_is_cheap_and_pytest_free() -> None:
    code = (
        "import sys, pytest_actionsec.exposure;"
        "print(sorted(m for m in ('nova', 'pytest', 'hypothesis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_microversions_end_at_nova_newest() -> None:
    render_fault(FAULT, role="member", microversion="2.1")  # nova imported quietly
    from nova.api.openstack import api_version_request as avr

    assert MICROVERSIONS == ("2.1", "2.51", "2.62", "2.84", avr.max_api_version().get_string())
    assert MICROVERSIONS[-1] == exposure.NEWEST_MICROVERSION == "2.104"


@pytest.mark.parametrize("microversion", ["2.0", "2.105", "3.1", "latest", "x"])
def test_microversion_outside_nova_is_refused(microversion: str) -> None:
    with pytest.raises(ExposureError):
        render_event(ACTION, EVENT, role="member", microversion=microversion)


def test_unknown_role_and_kind_are_refused() -> None:
    with pytest.raises(ExposureError, match="role"):
        render_fault(FAULT, role="reader", microversion="2.1")
    with pytest.raises(ExposureError, match="kind"):
        visible_fields("instance", "member", "2.1")


def test_no_eventlet_monkey_patching_and_no_nova_tests() -> None:
    _event("member", "2.104")
    render_fault(FAULT, role="admin", microversion="2.104")
    assert not any(name == "nova.tests" or name.startswith("nova.tests.") for name in sys.modules)
    patcher = importlib.import_module("eventlet.patcher")  # untyped

    assert not [m for m in ("socket", "thread", "time", "select") if patcher.is_monkey_patched(m)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # oslo.context on is_admin
def test_roles_are_decided_by_nova_context_is_admin() -> None:
    from nova import context

    # RequestContext computes is_admin with nova.policy.check_is_admin (rule
    # context_is_admin = role:admin); render_* build their context the same way.
    admin = context.RequestContext(user_id="u", project_id=SERVER_PROJECT_ID, roles=["admin"])
    member = context.RequestContext(user_id="u", project_id=SERVER_PROJECT_ID, roles=["member"])
    assert admin.is_admin is True
    assert member.is_admin is False


# --- events: GET /servers/{id}/os-instance-actions/{request_id} -----------------------------


def test_member_at_2_84_sees_neither_details_nor_traceback_nor_host() -> None:
    shown = _text(_event("member", "2.84"))
    assert "@event@" in shown  # the event is shown ...
    # ... but not its details: nova 34's default for
    # os_compute_api:os-instance-actions:events:details is admin only
    # (nova/policies/instance_actions.py: "check_str=base.ADMIN," with
    # base.ADMIN = 'rule:context_is_admin'), checked in show():
    #   show_details = context.can(
    #       ia_policies.BASE_POLICY_NAME % 'events:details', ...
    assert "@details@" not in shown
    assert "@traceback@" not in shown
    assert "@host@" not in shown


def test_admin_at_2_84_sees_details_traceback_and_host() -> None:
    shown = _text(_event("admin", "2.84"))
    for marker in ("@event@", "@details@", "@traceback@", "@host@"):
        assert marker in shown


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("microversion", ["2.1", "2.51", "2.62", "2.83"])
def test_nobody_sees_event_details_before_2_84(role: str, microversion: str) -> None:
    # "if api_version_request.is_supported(req, '2.84'):" gates show_details
    assert "@details@" not in _text(_event(role, microversion))


def test_member_sees_no_events_before_2_51_and_no_traceback_after() -> None:
    # "elif api_version_request.is_supported(req, '2.51'):  show_events = True"
    assert "events" not in render_action(ACTION, [EVENT], role="member", microversion="2.50")
    assert _event("member", "2.50") == {}
    shown = _text(_event("member", "2.51"))
    assert "@event@" in shown
    assert "@traceback@" not in shown


def test_admin_sees_traceback_from_2_1_and_host_from_2_62() -> None:
    # "show_host = api_version_request.is_supported(req, '2.62')" for events-policy holders
    shown = _text(_event("admin", "2.1"))
    assert "@traceback@" in shown
    assert "@host@" not in shown
    assert "@host@" in _text(_event("admin", "2.62"))


@pytest.mark.parametrize("role", ROLES)
def test_host_id_is_a_hash_of_host_shown_to_everyone_from_2_62(role: str) -> None:
    assert "hostId" not in _event(role, "2.61")
    event = _event(role, "2.62")
    # utils.generate_hostid: sha224((project_id + host).encode('utf-8')), with the
    # action's project_id (or the server's when the action has none).
    expected = hashlib.sha224(("@project_id@" + "@host@").encode()).hexdigest()
    assert event["hostId"] == expected
    no_project = render_event({**ACTION, "project_id": None}, EVENT, role=role, microversion="2.62")
    assert (
        no_project["hostId"] == hashlib.sha224((SERVER_PROJECT_ID + "@host@").encode()).hexdigest()
    )


def test_action_message_is_read_by_a_member() -> None:
    shown = render_action(ACTION, [], role="member", microversion="2.104")
    assert shown["message"] == "@message@"
    assert "finish_time" not in shown  # not in ACTION_KEYS(_V258)


@pytest.fixture
def members_may_read_event_details() -> Iterator[None]:
    """Nova's enforcer with events:details opened to readers, restored after."""
    from nova import policy
    from oslo_policy import policy as oslo_policy

    exposure.render_fault(FAULT, role="member", microversion="2.1")  # enforcer initialised
    name = "os_compute_api:os-instance-actions:events:details"
    rules = policy._ENFORCER.rules
    saved = rules[name]
    rules[name] = oslo_policy.RuleDefault(name, "role:reader").check
    try:
        yield
    finally:
        rules[name] = saved


def test_event_details_follow_nova_policy_not_a_copy(members_may_read_event_details: None) -> None:
    # The same member request, with the rule changed in nova's own enforcer.
    assert "@details@" in _text(_event("member", "2.84"))
    assert "@details@" not in _text(_event("member", "2.83"))


def test_policy_override_was_restored() -> None:
    assert "@details@" not in _text(_event("member", "2.84"))


# --- faults: the servers view builder's _get_fault ------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("microversion", MICROVERSIONS)
def test_fault_message_is_read_by_everyone(role: str, microversion: str) -> None:
    shown = render_fault(FAULT, role=role, microversion=microversion)
    assert shown is not None
    assert shown["message"] == "@fault-message@"
    assert shown["code"] == 500
    assert "@fault-host@" not in _text(shown)  # a fault's host is never rendered


@pytest.mark.parametrize("microversion", MICROVERSIONS)
def test_fault_details_shown_to_a_member_only_when_code_is_not_500(microversion: str) -> None:
    # nova/api/openstack/compute/views/servers.py, ViewBuilder._get_fault:
    #     if is_admin or fault['code'] != 500:
    #         fault_dict['details'] = fault["details"]
    def details(code: int, role: str) -> bool:
        fault = {**FAULT, "code": code}
        return "@fault-details@" in _text(render_fault(fault, role=role, microversion=microversion))

    assert not details(500, "member")
    assert details(409, "member")
    assert details(400, "member")
    assert details(500, "admin")
    assert details(409, "admin")


def test_empty_fault_details_are_not_rendered() -> None:
    # "if fault.get('details', None):"
    shown = render_fault({**FAULT, "details": ""}, role="admin", microversion="2.104")
    assert shown is not None
    assert "details" not in shown


# --- visible_fields: markers in every stored field --------------------------------------------

EVENT_BASE = {"event", "start_time", "finish_time", "result"}
ACTION_BASE = {
    "action",
    "instance_uuid",
    "request_id",
    "user_id",
    "project_id",
    "start_time",
    "message",
}
FAULT_BASE = {"code", "message", "created_at"}

EXPECTED: dict[tuple[str, str, str], set[str]] = {}
for _mv in MICROVERSIONS:
    _after_2_84 = _mv in ("2.84", "2.104")
    _after_2_62 = _mv != "2.1" and _mv != "2.51"
    EXPECTED["event", "member", _mv] = set() if _mv == "2.1" else EVENT_BASE
    EXPECTED["event", "admin", _mv] = (
        EVENT_BASE
        | {"traceback"}
        | ({"host"} if _after_2_62 else set())
        | ({"details"} if _after_2_84 else set())
    )
    for _role in ROLES:
        EXPECTED["action", _role, _mv] = ACTION_BASE | ({"updated_at"} if _after_2_62 else set())
    EXPECTED["fault", "member", _mv] = FAULT_BASE
    EXPECTED["fault", "admin", _mv] = FAULT_BASE | {"details"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("microversion", MICROVERSIONS)
def test_visible_fields_table(kind: str, role: str, microversion: str) -> None:
    assert visible_fields(kind, role, microversion) == EXPECTED[kind, role, microversion]


@pytest.mark.parametrize("role", ROLES)
def test_visible_fault_fields_with_a_non_500_code(role: str) -> None:
    assert visible_fields("fault", role, "2.104", fault_code=409) == FAULT_BASE | {"details"}


def test_every_non_boolean_column_is_marked() -> None:
    from nova import objects

    objects.register_all()  # the classes are attributes only once registered
    classes = {
        "event": objects.InstanceActionEvent,
        "action": objects.InstanceAction,
        "fault": objects.InstanceFault,
    }
    for kind, cls in classes.items():
        assert marked_fields(kind) == set(cls.fields) - {"deleted"}


def test_markers_are_found_when_present() -> None:
    # Not vacuous: with every field marked, what an admin reads of an event at the
    # newest microversion carries the markers of the fields it shows.
    markers = dict(exposure._markers("event", 500, 0))
    shown = _text(
        render_event(exposure._NEUTRAL_ACTION, markers, role="admin", microversion="2.104")
    )
    for name in ("traceback", "details", "host", "event", "result"):
        assert markers[name] in shown
    assert markers["start_time"].strftime("%Y-%m-%dT%H:%M:%S") in shown


def test_host_influences_what_a_member_reads_through_host_id() -> None:
    assert "host" not in visible_fields("event", "member", "2.62")
    assert "host" in influencing_fields("event", "member", "2.62")
    assert "host" not in influencing_fields("event", "member", "2.61")
    assert influencing_fields("fault", "member", "2.104") == FAULT_BASE  # code included


def test_the_newest_microversion_is_an_older_release_s_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a nova whose newest microversion is below nova 34's (2.100 on nova 31), the
    newest of MICROVERSIONS renders at that release's newest; any other microversion
    above it is still refused."""
    nova = exposure._nova()
    monkeypatch.setattr(nova, "max_version", nova.avr.APIVersionRequest("2.100"))
    assert exposure._version(nova, exposure.NEWEST_MICROVERSION).get_string() == "2.100"
    with pytest.raises(ExposureError, match=r"2\.101 is outside nova's 2\.1\.\.2\.100"):
        exposure._version(nova, "2.101")
    shown = render_action(ACTION, [], role="member", microversion=exposure.NEWEST_MICROVERSION)
    assert shown["request_id"] == ACTION["request_id"]
