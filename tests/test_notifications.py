"""The notification sink: nova's ``notify_about_instance_action`` as it goes on the bus.

Real nova 34, real oslo.messaging (its in-process ``test`` driver at the packer layer,
the real RabbitMQ on loopback at the bus layer, a topic of each test's own), real
Hypothesis runs. Precision: the paranoid notification builder
(``tests.zoo.paranoid.notify_about_instance_action``) gives no finding in both modes
at both layers over five seeds; a broken one (``tests.targets.leaky_notifier``: the
fault's message is ``str(exception)``) is caught; nova's own leaks the exception's text.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import Run, run_pipeline
from pytest_actionsec.notifications import (
    BUS_REAL_TIME,
    NOTIFY_SINK,
    Bus,
    BusError,
    make_server,
    probe_bus,
    wire_record,
)
from pytest_actionsec.registry import severity_rank
from pytest_actionsec.specs import raise_through_frame
from pytest_actionsec.suite import verdict
from pytest_actionsec.targets import Target, resolve_target

pytest.importorskip("nova")

_ROOT = str(Path(__file__).resolve().parents[1])
BUS = os.environ.get("ACTIONSEC_TEST_BUS", "rabbit://guest:guest@127.0.0.1:5672/")
UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"
SEEDS = (1, 2, 3, 4, 5)
LEAKY = "tests.targets.leaky_notifier.notify_about_instance_action"
SECRET = "mysql+pymysql://nova:s3cr3t-canary@db.internal:3306/nova refused"


def _broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


needs_broker = pytest.mark.skipif(not _broker_up(), reason="no RabbitMQ on 127.0.0.1:5672")


@pytest.fixture(scope="module")
def nova_target() -> Target:
    return resolve_target()


@pytest.fixture(scope="module")
def paranoid() -> Target:
    return resolve_target("tests.zoo.paranoid")


@pytest.fixture(scope="module")
def leaky() -> Target:
    return resolve_target("tests.zoo.paranoid", notifier=LEAKY)


@pytest.fixture(scope="module")
def bus() -> Iterator[Bus]:
    if not _broker_up():
        pytest.skip("no RabbitMQ on 127.0.0.1:5672")
    opened = Bus.open(BUS, topic=f"actionsec-test-{uuid.uuid4().hex[:10]}")
    yield opened
    opened.close()


def _context(target: Target, **attrs: Any) -> Any:
    values: dict[str, Any] = {
        "user_id": "u-1",
        "project_id": "p-1",
        "request_id": "req-1",
        "auth_token": "token-canary",
    }
    values.update(attrs)
    return target.make_context(**values)


def _raised() -> BaseException:
    return raise_through_frame(ValueError(SECRET), password="frame-local-canary")


def _run(
    target: Target,
    judged: dict[str, tuple[str, ...]],
    *,
    mode: str = "contract",
    seed: int = 1,
    examples: int = 60,
    bus: Bus | None = None,
) -> Any:
    with SkewedClock(ignore=BUS_REAL_TIME if bus is not None else ()) as clock:
        return run_pipeline(
            target,
            Run(NOTIFY_SINK),
            judged,
            mode=mode,
            max_examples=examples,
            seed=seed,
            clock=clock,
            database=None,
            bus=bus,
        )


ALL = ("leak", "type", "null", "bounds", "time", "integrity", "purity", "crash")


# -- the record: the wire message ---------------------------------------------------


def test_novas_notification_is_captured_as_it_goes_on_the_wire(nova_target: Target) -> None:
    notify = nova_target.helpers[NOTIFY_SINK]
    exc = _raised()
    record = notify(
        _context(nova_target),
        make_server(UUID),
        "compute-1",
        "reboot",
        phase="error",
        exception=exc,
    )
    assert record is not None
    assert (record["event_type"], record["publisher_id"], record["priority"]) == (
        "instance.reboot.error",
        "nova-compute:compute-1",
        "ERROR",
    )
    # nova 34: str(exception) and the whole format_exception text, unmasked
    assert record["payload.fault.exception_message"] == SECRET
    assert SECRET in record["payload.fault.traceback"]
    assert record["payload.fault.exception"] == "ValueError"
    assert record["payload.uuid"] == UUID
    assert record["payload.action_initiator_user"] == "u-1"
    assert record["payload.request_id"] == "req-1"
    # the record is JSON as the messaging driver sends it: a str, int or None per leaf
    assert all(v is None or type(v) in (str, int) for v in record.values())
    assert json.loads(json.dumps(record)) == record
    # without an exception: an INFO notification, no fault
    info = notify(_context(nova_target), make_server(UUID), "compute-1", "pause")
    assert info is not None
    assert (info["priority"], info["payload.fault"]) == ("INFO", None)


def test_wire_record_flattens_nova_objects_and_lists() -> None:
    message = {
        "event_type": "instance.x",
        "publisher_id": "p",
        "priority": "INFO",
        "payload": {
            "nova_object.name": "X",
            "nova_object.data": {"a": {"nova_object.data": {"b": "t"}}, "l": [{"c": 1}], "f": 1.5},
        },
        "message_id": "m",
    }
    assert wire_record(message) == {
        "event_type": "instance.x",
        "publisher_id": "p",
        "priority": "INFO",
        "payload.a.b": "t",
        "payload.l[0].c": 1,
    }


def test_the_capture_restores_novas_notifier(nova_target: Target) -> None:
    from pytest_actionsec import nova

    rpc = nova.messaging().rpc
    before = rpc.NOTIFIER
    conf = nova.modules().conf
    fmt = conf.notifications.notification_format
    nova_target.helpers[NOTIFY_SINK](_context(nova_target), make_server(UUID), "h", "pause")
    assert rpc.NOTIFIER is before and conf.notifications.notification_format == fmt


# -- nova 34's findings -------------------------------------------------------------


def test_novas_notifier_sends_the_exception_text_to_the_bus(nova_target: Target) -> None:
    """CVE-2019-14433's shape on the bus: nova 34 sends ``str(exception)`` and the
    whole traceback text of any exception; read by the bus's consumers. An exception
    whose ``__str__`` raises makes nova's ``str(fault)`` raise: no notification is sent
    (and the caller gets that error instead of its own)."""
    found = _run(nova_target, {"packer": ALL}, seed=5)
    own = {(v.invariant, v.field, v.severity, v.kind) for v in found.violations if not v.blame}
    leaks = {
        ("leak.field", "payload.fault.exception_message", "bus", "bus"),
        ("leak.field", "payload.fault.traceback", "bus", "bus"),
    }
    assert leaks <= own
    # str(fault) unchecked: a __str__ that raises, or returns no text (TypeError)
    assert own - leaks <= {
        ("crash.contract", None, "", "RuntimeError"),
        ("crash.contract", None, "", "TypeError"),
    }, own
    assert ("crash.contract", None, "", "RuntimeError") in own  # the probe meets it
    crashes = [v for v in found.violations if v.invariant == "crash.contract"]
    assert all("__str__" in v.evidence for v in crashes), crashes


def test_novas_notifier_crashes_on_hostile_exceptions(nova_target: Target) -> None:
    found = _run(nova_target, {"packer": ("crash",)}, mode="hostile", seed=5, examples=150)
    crashes = {(v.invariant, v.kind) for v in found.violations}
    assert ("crash.hostile", "AttributeError") in crashes, found.violations


# -- precision: the paranoid builder is clean, a broken one is caught ---------------


@pytest.mark.parametrize("mode", ["contract", "hostile"])
@pytest.mark.parametrize("seed", SEEDS)
def test_paranoid_notifier_has_no_finding(paranoid: Target, mode: str, seed: int) -> None:
    found = _run(paranoid, {"packer": ALL}, mode=mode, seed=seed)
    own = [v.to_dict() for v in found.violations if not v.blame]
    assert found.status == "passed" and not own, own


def test_broken_notifier_is_caught_with_its_audience(leaky: Target) -> None:
    assert leaky.notify_origin == LEAKY and leaky.fallbacks == {}
    found = _run(leaky, {"packer": ALL}, seed=1)
    own = {(v.invariant, v.field, v.severity) for v in found.violations if not v.blame}
    # its str(exception) leaks, and raises when the exception's __str__ does (the probe)
    assert own == {
        ("leak.field", "payload.fault.exception_message", "bus"),
        ("crash.contract", None, ""),
    }


def test_bus_ranks_between_admin_and_tenant(nova_target: Target) -> None:
    assert severity_rank("admin") < severity_rank("bus") < severity_rank("tenant")
    from pytest_actionsec.report import Baseline

    found = _run(nova_target, {"packer": ("leak",)}, seed=5)
    from pytest_actionsec.execution.plan import Property

    result = found.for_property(Property("leak", NOTIFY_SINK, "packer"))
    assert verdict(result, Baseline.empty(), min_severity="bus").new
    floor = verdict(result, Baseline.empty(), min_severity="tenant")
    assert not floor.new and floor.noted


# -- the bus layer: the real RabbitMQ ----------------------------------------------


@needs_broker
def test_the_bus_gives_back_what_the_packer_layer_captured(nova_target: Target, bus: Bus) -> None:
    packed = nova_target.helpers[NOTIFY_SINK]
    sent = bus.capturing(packed.__wrapped__)  # type: ignore[attr-defined]
    exc = _raised()
    args = (_context(nova_target), make_server(UUID), "compute-1", "reboot")
    local = packed(*args, phase="error", exception=exc)
    remote = sent(*args, phase="error", exception=exc)
    assert remote == local and remote is not None
    assert remote["payload.fault.exception_message"] == SECRET


@needs_broker
@pytest.mark.parametrize("mode", ["contract", "hostile"])
@pytest.mark.parametrize("seed", SEEDS)
def test_paranoid_notifier_is_clean_on_the_bus(
    paranoid: Target, bus: Bus, mode: str, seed: int
) -> None:
    found = _run(paranoid, {"packer": ALL, "bus": ALL}, mode=mode, seed=seed, examples=25, bus=bus)
    own = [v.to_dict() for v in found.violations if not v.blame]
    assert found.status == "passed" and not own, own
    assert found.examples >= 25


@needs_broker
def test_broken_and_novas_notifiers_are_caught_on_the_bus(
    leaky: Target, nova_target: Target, bus: Bus
) -> None:
    for target, fields in (
        (leaky, {"payload.fault.exception_message"}),
        (nova_target, {"payload.fault.exception_message", "payload.fault.traceback"}),
    ):
        found = _run(target, {"bus": ("leak",)}, seed=5, examples=30, bus=bus)
        got = {(v.layer, v.field, v.severity) for v in found.violations}
        assert got == {("bus", f, "bus") for f in fields}, found.violations


def test_a_bad_or_unreachable_bus_is_one_line_without_its_password() -> None:
    for url, words in (
        ("rabbit://guest:sekrit-pw@127.0.0.1:1/", "is unreachable"),
        ("kafka://guest:sekrit-pw@127.0.0.1:9092/", "only the rabbit transport"),
        ("rabbit://", "is not a transport URL"),
    ):
        with pytest.raises(BusError) as info:
            probe_bus(url)
        text = str(info.value)
        assert words in text and "\n" not in text and "sekrit-pw" not in text, text


# -- the plugin: items, the header, usage errors ------------------------------------


@pytest.fixture
def root_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytest subprocess imports this repository's ``tests`` package (the fixtures)."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))
    )


_FAST = ("--actionsec", "-p", "no:cacheprovider", "--actionsec-examples=5", "--actionsec-seed=1")


def test_the_default_suite_has_the_notification_items_at_the_packer_layer(
    pytester: pytest.Pytester, root_on_path: None
) -> None:
    result = pytester.runpytest_subprocess(*_FAST, "--collect-only", "-q")
    ids = [line for line in result.stdout.lines if NOTIFY_SINK in line]
    assert len(ids) == 8 and all(i.endswith(f"-{NOTIFY_SINK}-packer]") for i in ids), ids
    assert "138 tests collected" in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--actionsec-bus=rabbit://guest:sekrit-pw@127.0.0.1:1/"],
            "ERROR: actionsec: the bus layer cannot run: bus 'rabbit://***:***@127.0.0.1:1/' "
            "is unreachable: *",
        ),
        (["--actionsec-layers=packer,bus"], "*the bus layer needs a message bus*"),
        (
            ["--actionsec-notifier=tests.targets.module_level.NOPE"],
            "ERROR: --actionsec-notifier: notifier 'tests.targets.module_level.NOPE': "
            "'tests.targets.module_level' has no 'NOPE'",
        ),
    ],
)
def test_bad_bus_or_notifier_is_a_one_line_usage_error(
    pytester: pytest.Pytester, root_on_path: None, args: list[str], message: str
) -> None:
    result = pytester.runpytest_subprocess("--actionsec", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    result.stderr.fnmatch_lines([message])
    assert "sekrit-pw" not in result.stdout.str() + result.stderr.str()


def test_a_malformed_bus_url_is_refused_by_the_parser(
    pytester: pytest.Pytester, root_on_path: None
) -> None:
    result = pytester.runpytest_subprocess("--actionsec", "--actionsec-bus=guest:sekrit-pw@h")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--actionsec-bus: must be a transport URL like rabbit://user:password@host:5672/, "
            "got '***@h'*"
        ]
    )
    assert "sekrit-pw" not in result.stdout.str() + result.stderr.str()


def test_none_skips_the_notification_items(pytester: pytest.Pytester, root_on_path: None) -> None:
    result = pytester.runpytest_subprocess(
        *_FAST, "--actionsec-notifier=none", "--actionsec-layers=packer", "-k", "notify", "-rs"
    )
    result.assert_outcomes(skipped=8)
    result.stdout.fnmatch_lines(["*turned off by --actionsec-notifier=none*"])


@needs_broker
def test_the_bus_layer_runs_from_the_command_line(
    pytester: pytest.Pytester, root_on_path: None
) -> None:
    result = pytester.runpytest_subprocess(
        *_FAST,
        "--actionsec-target=tests.zoo.paranoid",
        f"--actionsec-bus={BUS}",
        "-k",
        "notify",
        "--actionsec-report=r.json",
    )
    result.assert_outcomes(passed=16)
    out = result.stdout.str()
    assert "bus=rabbit://***:***@127.0.0.1:5672/" in out and "guest:guest" not in out
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    layers = {p["layer"] for p in report["properties"] if p["function"] == NOTIFY_SINK}
    assert layers == {"packer", "bus"}
