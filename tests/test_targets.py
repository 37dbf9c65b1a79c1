"""Unit tests for pytest_actionsec.targets, against the real nova package."""

from __future__ import annotations

import datetime as dt

import pytest

from pytest_actionsec.targets import (
    DEFAULT_TARGET,
    HELPERS,
    TABLE_OF,
    PlainContext,
    Target,
    TargetError,
    resolve_target,
)

FIXTURES = "tests.targets"


@pytest.fixture(scope="module")
def nova_target() -> Target:
    return resolve_target()


def _error(path: str, **kwargs: object) -> str:
    with pytest.raises(TargetError) as info:
        resolve_target(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message, "TargetError without a message"
    assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
    return message


# ---------------------------------------------------------------------------
# The default target: nova 34.


def test_default_target_is_nova(nova_target: Target) -> None:
    import nova.objects.instance_action as ia

    assert DEFAULT_TARGET == "nova.objects.instance_action"
    assert nova_target.path == DEFAULT_TARGET
    assert tuple(nova_target.helpers) == (
        *HELPERS,
        "add_instance_fault_from_exc",
        "notify_about_instance_action",
    )
    assert nova_target.fault_origin == "nova.compute.utils.add_instance_fault_from_exc"
    assert nova_target.notify_origin == "nova.compute.utils.notify_about_instance_action"
    assert nova_target.helpers["pack_action_start"] is ia.InstanceAction.pack_action_start
    assert nova_target.helpers["pack_action_finish"] is ia.InstanceAction.pack_action_finish
    assert (
        nova_target.helpers["pack_action_event_start"]
        is ia.InstanceActionEvent.pack_action_event_start
    )
    assert (
        nova_target.helpers["pack_action_event_finish"]
        is ia.InstanceActionEvent.pack_action_event_finish
    )
    assert nova_target.notes == ()


def test_default_target_schemas(nova_target: Target) -> None:
    import nova.objects.instance_action as ia

    assert set(nova_target.schemas) == {
        "instance_actions",
        "instance_actions_events",
        "instance_faults",
    }
    # a notification has no table: its record is the wire message, with no ovo schema
    assert set(nova_target.schemas) == set(TABLE_OF.values()) - {"notifications"}
    from nova.objects.instance_fault import InstanceFault

    assert dict(nova_target.schemas["instance_faults"]) == dict(InstanceFault.fields)
    assert dict(nova_target.schemas["instance_actions"]) == dict(ia.InstanceAction.fields)
    assert dict(nova_target.schemas["instance_actions_events"]) == dict(
        ia.InstanceActionEvent.fields
    )
    assert "details" in nova_target.schemas["instance_actions_events"]
    assert "user_id" in nova_target.schemas["instance_actions"]


def test_default_target_boundary_and_trusted(nova_target: Target) -> None:
    import nova.exception
    import nova.objects.base

    assert nova_target.boundary is nova.objects.base.serialize_args
    assert nova_target.boundary_origin == "nova.objects.base.serialize_args"
    assert nova_target.trusted == (nova.exception.NovaException,)


def test_boundary_call_formats_like_serialize_args(nova_target: Target) -> None:
    call = nova_target.boundary_call()
    assert call is not None
    ctx = nova_target.make_context(request_id="req-1", timestamp=dt.datetime(2020, 1, 1))
    text = "secret text"
    try:
        raise ValueError(text)
    except ValueError as exc:
        caught = exc
    record = call(ctx, "uuid", "ev", exc_val=caught, exc_tb=caught.__traceback__)
    assert record["details"] == "ValueError"
    assert isinstance(record["traceback"], str)
    assert "raise ValueError" in record["traceback"]
    assert "secret text" not in record["traceback"]


def test_default_context_is_nova_request_context(nova_target: Target) -> None:
    import nova.conf
    import nova.context

    ts = dt.datetime(2021, 3, 4, 5, 6, 7, 890)
    catalog = [{"type": "image", "name": "glance", "endpoints": []}]
    ctx = nova_target.make_context(
        user_id=None,
        project_id=None,
        request_id=None,
        auth_token="tok",
        service_catalog=catalog,
        remote_address="10.0.0.1",
        timestamp=ts,
    )
    assert nova_target.context_origin == "nova.context.RequestContext"
    assert isinstance(ctx, nova.context.RequestContext)
    # exactly what was asked for: RequestContext would generate a request id and
    # filter the catalog
    assert ctx.user_id is None
    assert ctx.project_id is None
    assert ctx.request_id is None
    assert ctx.auth_token == "tok"
    assert ctx.service_catalog is catalog
    assert ctx.remote_address == "10.0.0.1"
    assert ctx.timestamp is ts
    assert ctx.is_admin is False
    # built without parsing any configuration: oslo.config registers config_file
    # only when CONF() is called
    assert not getattr(nova.conf.CONF, "config_file", None)


def test_context_with_text_ids(nova_target: Target) -> None:
    ctx = nova_target.make_context(user_id="u", project_id="p", request_id="req-x", timestamp=None)
    assert (ctx.user_id, ctx.project_id, ctx.request_id) == ("u", "p", "req-x")
    assert ctx.timestamp is None


def test_plain_context_defaults() -> None:
    ctx = PlainContext(user_id="u")
    assert ctx.user_id == "u"
    assert ctx.project_id is None and ctx.request_id is None and ctx.timestamp is None
    assert ctx.service_catalog == []
    assert ctx.is_admin is False
    assert "PlainContext" in repr(ctx)


# ---------------------------------------------------------------------------
# Other layouts.


def test_module_level_functions_layout() -> None:
    import nova.objects.base

    from tests.targets import module_level

    target = resolve_target(f"{FIXTURES}.module_level")
    assert target.path == f"{FIXTURES}.module_level"
    for name in HELPERS:
        assert target.helpers[name] is getattr(module_level, name)
    # no schemas of its own: only the fault's, whose record is nova's InstanceFault
    assert set(target.schemas) == {"instance_faults"}
    # no serialize_args of its own: nova's is used
    assert target.boundary is nova.objects.base.serialize_args
    ctx = target.make_context(request_id="r", timestamp=dt.datetime(2020, 1, 1))
    record = target.helpers["pack_action_start"](ctx, "uuid", "create")
    assert record["start_time"] == dt.datetime(2020, 1, 1)


def test_trusted_given_as_classes_and_paths() -> None:
    target = resolve_target(f"{FIXTURES}.module_level", trusted=[KeyError, "builtins.OSError"])
    assert target.trusted == (KeyError, OSError)
    assert resolve_target(f"{FIXTURES}.module_level", trusted=[]).trusted == ()


def test_path_is_stripped() -> None:
    assert resolve_target(f"  {FIXTURES}.module_level ").path == f"{FIXTURES}.module_level"


# ---------------------------------------------------------------------------
# One-line errors.


def test_error_target_module_missing() -> None:
    message = _error(f"{FIXTURES}.no_such_target")
    assert "does not import" in message
    assert f"'{FIXTURES}.no_such_target'" in message


def test_error_target_imports_a_missing_module() -> None:
    message = _error(f"{FIXTURES}.imports_missing")
    assert "does not import" in message
    assert "'actionsec_no_such_module'" in message
    assert "pytest-actionsec[nova]" not in message


def test_error_target_import_raises() -> None:
    message = _error(f"{FIXTURES}.broken_import")
    assert "does not import" in message
    assert "RuntimeError" in message
    assert "target exploded at import" in message


def test_error_missing_nova_module_suggests_extra() -> None:
    message = _error("nova_actionsec_absent.objects")
    assert "'nova_actionsec_absent'" in message
    assert "pytest-actionsec[nova]" not in message


def test_error_nova_typo_does_not_suggest_installing_nova() -> None:
    message = _error("nova.objects.instance_actoin")
    assert "'nova.objects.instance_actoin'" in message
    assert "pip install" not in message


def test_error_missing_helper() -> None:
    message = _error(f"{FIXTURES}.missing_helper")
    assert "has no pack_action_event_finish" in message
    assert "InstanceActionEvent.pack_action_event_finish" in message


def test_error_wrong_signature() -> None:
    message = _error(f"{FIXTURES}.wrong_signature")
    assert "pack_action_event_finish" in message
    assert "does not accept" in message
    assert "exc_val=None, exc_tb=None" in message


@pytest.mark.parametrize("path", ["", "   ", None, 42])
def test_error_not_a_path(path: object) -> None:
    message = _error(path)  # type: ignore[arg-type]
    assert "dotted module path" in message


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        ("nova.exception.NoSuchNovaError", "has no 'NoSuchNovaError'"),
        ("NoDots", "not a dotted path"),
        ("actionsec_no_such_mod.Err", "module 'actionsec_no_such_mod' does not import"),
        ("builtins.int", "is not an exception class"),
        ("os.path", "is not an exception class"),
    ],
)
def test_error_bad_trusted(trusted: str, expected: str) -> None:
    message = _error(f"{FIXTURES}.module_level", trusted=[trusted])
    assert expected in message
    assert repr(trusted) in message


def test_error_bad_trusted_object() -> None:
    message = _error(f"{FIXTURES}.module_level", trusted=[int])
    assert "is not an exception class" in message


def test_error_trusted_module_import_raises_is_one_line() -> None:
    message = _error(f"{FIXTURES}.module_level", trusted=[f"{FIXTURES}.broken_import.Boom"])
    assert "does not import" in message


# ---------------------------------------------------------------------------
# The sink and the boundary named, turned off, or nova's fallbacks.

RENAMED = f"{FIXTURES}.renamed_sink"


def test_nova_itself_has_no_fallback(nova_target: Target) -> None:
    assert nova_target.fallbacks == {}
    assert nova_target.via("add_instance_fault_from_exc", "packer") is None


def test_a_target_without_its_own_gets_novas_as_named_fallbacks() -> None:
    target = resolve_target(f"{FIXTURES}.module_level")
    assert target.fallbacks == {
        "boundary": "nova.objects.base.serialize_args",
        "sink": "nova.compute.utils.add_instance_fault_from_exc",
        "notifier": "nova.compute.utils.notify_about_instance_action",
    }
    assert target.via("notify_about_instance_action", "bus") == (
        "through nova's notification sink (fallback): "
        "nova.compute.utils.notify_about_instance_action"
    )
    assert target.via("add_instance_fault_from_exc", "store") == (
        "through nova's fault sink (fallback): nova.compute.utils.add_instance_fault_from_exc"
    )
    for layer in ("boundary", "store", "api"):  # event finish goes through the boundary
        assert "RPC boundary (fallback)" in str(target.via("pack_action_event_finish", layer))
    assert target.via("pack_action_event_finish", "packer") is None
    assert target.via("pack_action_start", "boundary") is None


@pytest.mark.parametrize(
    "sink", [f"{RENAMED}.add_server_fault_from_exc", f"{RENAMED}.Faults.add_server_fault_from_exc"]
)
def test_a_sink_named_by_dotted_path_is_fuzzed_whatever_its_name(sink: str) -> None:
    from pytest_actionsec.locations import real_function
    from tests.targets import renamed_sink

    target = resolve_target(RENAMED, sink=sink, boundary=f"{RENAMED}.remotable_args")
    assert (target.fault_origin, target.boundary_origin) == (sink, f"{RENAMED}.remotable_args")
    assert target.notes == ()
    assert target.fallbacks == {"notifier": "nova.compute.utils.notify_about_instance_action"}
    found = real_function(target.helpers["add_instance_fault_from_exc"])
    # by name: an in-process pytest run may have imported the module anew
    assert (found.__module__, found.__qualname__) == (
        renamed_sink.add_server_fault_from_exc.__module__,
        renamed_sink.add_server_fault_from_exc.__qualname__,
    )
    assert target.boundary is not None
    assert target.boundary.__qualname__ == renamed_sink.remotable_args.__qualname__
    # the named sink is called as the fault sink: its fault is captured, not written
    from pytest_actionsec.specs import make_instance

    fault = target.helpers["add_instance_fault_from_exc"](
        target.make_context(), make_instance("6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"), KeyError("s")
    )
    assert fault is not None and fault["message"] == "KeyError"


def test_without_a_named_one_a_renamed_sink_is_not_found() -> None:
    target = resolve_target(RENAMED)
    assert target.fault_origin == "nova.compute.utils.add_instance_fault_from_exc"
    assert "sink" in target.fallbacks


def test_none_turns_the_sink_and_the_boundary_off() -> None:
    target = resolve_target(f"{FIXTURES}.module_level", sink="none", boundary=" None ")
    assert "add_instance_fault_from_exc" not in target.helpers
    assert target.boundary is None and target.boundary_call() is None
    assert (target.fault_origin, target.boundary_origin) == ("none", "none")
    assert target.fallbacks == {"notifier": "nova.compute.utils.notify_about_instance_action"}
    assert target.notes == (
        "boundary properties skipped: turned off by --actionsec-boundary=none",
        "fault properties skipped: turned off by --actionsec-sink=none",
    )


@pytest.mark.parametrize(
    ("option", "dotted", "expected"),
    [
        ("sink", "nodots", "must be a dotted path 'module.function'"),
        ("sink", "actionsec_no_such_pkg.mod.f", "no module named 'actionsec_no_such_pkg'"),
        ("sink", f"{RENAMED}.no_such_sink", f"{RENAMED!r} has no 'no_such_sink'"),
        ("sink", f"{RENAMED}.Faults.nope", f"'{RENAMED}.Faults' has no 'nope'"),
        ("sink", f"{RENAMED}.NOT_CALLABLE", "is not callable (int)"),
        ("sink", f"{FIXTURES}.module_level", "is not callable (module)"),
        ("sink", f"{RENAMED}.remotable_args", "remotable_args(fn) does not accept (context, "),
        ("sink", f"{FIXTURES}.broken_import.f", "does not import (RuntimeError: target exploded"),
        ("boundary", f"{RENAMED}.NOT_CALLABLE", "is not callable (int)"),
        (
            "boundary",
            f"{RENAMED}.add_server_fault_from_exc",
            "add_server_fault_from_exc(context, instance, fault, exc_info=None, "
            "fault_message=None) does not accept (fn)",
        ),
        ("boundary", "actionsec_no_such_pkg.f", "no module named 'actionsec_no_such_pkg'"),
    ],
)
def test_a_bad_dotted_path_is_one_line_naming_the_option(
    option: str, dotted: str, expected: str
) -> None:
    with pytest.raises(TargetError) as info:
        resolve_target(f"{FIXTURES}.module_level", **{option: dotted})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{option} {dotted!r}: ") and expected in message, message
    assert info.value.option == option


# ---------------------------------------------------------------------------
# Every problem of a target at once.


def test_every_signature_problem_is_reported_at_once() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target(f"{FIXTURES}.many_problems", boundary=f"{RENAMED}.NOT_CALLABLE")
    head, *lines = str(info.value).split("\n")
    assert head == f"target '{FIXTURES}.many_problems' cannot be used (5 problems):"
    assert lines == [
        "  - pack_action_start(context, instance_uuid) does not accept "
        "(context, instance_uuid, action_name)",
        "  - no pack_action_finish (looked for InstanceAction.pack_action_finish, "
        "pack_action_finish on the module's other classes and a "
        "module-level pack_action_finish)",
        "  - pack_action_event_finish(context) does not accept "
        "(context, instance_uuid, event_name, exc_val=None, exc_tb=None)",
        f"  - boundary '{RENAMED}.NOT_CALLABLE': is not callable (int)",
        "  - add_instance_fault_from_exc(context, fault) does not accept "
        "(context, instance, fault, exc_info=None, fault_message=None)",
    ]
    assert info.value.option is None  # the target's own problems and an option's


def test_a_sink_turned_off_is_not_checked() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target(f"{FIXTURES}.many_problems", sink="none")
    assert str(info.value).startswith(f"target '{FIXTURES}.many_problems' cannot be used (3 ")
    assert "add_instance_fault_from_exc" not in str(info.value)
