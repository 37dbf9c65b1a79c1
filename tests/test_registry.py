"""The registry of invariants: registration rules, views, and a fork's own invariant end to end."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_actionsec.oracle import FAMILIES, INVARIANTS, Observation, judge, select
from pytest_actionsec.registry import (
    REGISTRY,
    Finding,
    Invariant,
    InvariantError,
    Registry,
    invariant,
)

pytest_plugins = ["pytester"]


def _obs(**record: Any) -> Observation:
    return Observation(
        function="pack_action_event_start",
        layer="packer",
        record=record,
        error=None,
        sources={},
        arguments={"instance_uuid": "u", "event_name": "e", "host": None},
    )


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    for invariant_id in ids:
        REGISTRY.remove(invariant_id)


def test_builtins_are_views_of_the_registry() -> None:
    assert list(FAMILIES)[:8] == [
        "leak", "type", "null", "bounds", "time", "integrity", "purity", "crash",
    ]  # fmt: skip
    assert len([i for i in INVARIANTS.values() if i.builtin]) == 26
    for inv in INVARIANTS.values():
        assert inv.check is not None and inv.statement and inv.origin


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nodot",), "must look like 'family.name'"),
        (("a b.c",), "must look like 'family.name'"),
        (("acme.x",), "statement must be a sentence"),
    ],
)
def test_bad_registrations_are_one_line_errors(args: tuple[str], message: str) -> None:
    statement = "" if "statement" in message else "A rule."
    with pytest.raises(InvariantError, match=message) as info:
        invariant(*args, statement=statement)
    assert "\n" not in str(info.value)


def test_bad_outcomes_and_family_are_refused() -> None:
    with pytest.raises(InvariantError, match="outcomes must be among"):
        invariant("acme.x", statement="A rule.", outcomes=("later",))
    with pytest.raises(InvariantError, match="family must be a name"):
        invariant("acme.x", statement="A rule.", family="my-family")


def test_duplicate_of_a_builtin_raises_outside_pytest_deferral(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(REGISTRY, "defer_errors", False)
    with pytest.raises(InvariantError, match=r"'leak\.field' registered twice"):

        @invariant("leak.field", statement="Mine.")
        def mine(obs: Observation) -> list[Finding]:
            return []


def test_a_user_invariant_is_judged_like_a_builtin(cleanup: list[str]) -> None:
    @invariant("acme.hostname", statement="No cloud host name in a field.")
    def hosts(obs: Observation) -> Iterator[Finding]:
        for name, text in obs.text_fields():
            if "acme.example" in text:
                yield Finding(name, "a host name")

    cleanup.append("acme.hostname")
    assert "acme" in FAMILIES and "acme.hostname" in INVARIANTS
    found = judge(_obs(event="boot on n1.acme.example", host=None), ["acme"])
    assert [(v.invariant, v.family, v.field) for v in found] == [("acme.hostname", "acme", "event")]
    assert select(["acme.hostname"]) == (frozenset({"acme"}), frozenset({"acme.hostname"}))
    REGISTRY.remove("acme.hostname")
    cleanup.clear()
    assert "acme" not in FAMILIES


def test_a_user_invariant_may_join_a_builtin_family(cleanup: list[str]) -> None:
    @invariant("leak.acme-marker", family="leak", statement="No ACME marker.")
    def marker(obs: Observation) -> Iterator[Finding]:
        if any("ACME-SECRET" in t for _, t in obs.text_fields()):
            yield Finding(None, "marker stored")

    cleanup.append("leak.acme-marker")
    found = judge(_obs(event="ACME-SECRET"), ["leak"])
    assert [v.invariant for v in found] == ["leak.acme-marker"]


def test_a_raising_invariant_is_blamed_in_one_line(cleanup: list[str]) -> None:
    @invariant("acme.broken", statement="Broken on purpose.")
    def broken(obs: Observation) -> list[Finding]:
        raise KeyError("oops")

    cleanup.append("acme.broken")
    with pytest.raises(InvariantError, match=r"invariant acme.broken \(.*broken\) raised KeyError"):
        judge(_obs(event="x"), ["acme"])


def test_outcomes_and_helpers_restrict_what_is_judged(cleanup: list[str]) -> None:
    seen: list[str] = []

    @invariant(
        "acme.errors",
        statement="Errors only.",
        outcomes=("error",),
        helpers=("pack_action_event_start",),
    )
    def errors(obs: Observation) -> list[Finding]:
        seen.append(obs.outcome)
        return []

    cleanup.append("acme.errors")
    judge(_obs(event="x"), ["acme"])
    failing = _obs()
    failing = dataclasses.replace(failing, error=ValueError("x"))
    judge(failing, ["acme"])
    other = _obs()
    other = dataclasses.replace(other, function="pack_action_finish")
    other = dataclasses.replace(other, error=ValueError("x"))
    judge(other, ["acme"])
    assert seen == ["error"]


def test_a_failing_user_invariant_fails_its_suite_item_in_one_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        from pytest_actionsec import invariant

        @invariant("acme.broken", statement="Broken on purpose.")
        def broken(obs):
            raise RuntimeError("bug in the rule")
        """
    )
    result = pytester.runpytest_subprocess(
        "--actionsec",
        "--actionsec-layers=packer",
        "--actionsec-examples=3",
        "-k",
        "acme and pack_action_finish",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*invariant acme.broken (conftest.broken) raised RuntimeError: *bug in the rule*"]
    )
    assert "Traceback" not in result.stdout.str()


def _inv(invariant_id: str, *, builtin: bool, origin: str) -> Invariant:
    return Invariant(
        id=invariant_id,
        family=invariant_id.split(".")[0],
        statement="A rule.",
        source="",
        origin=origin,
        builtin=builtin,
    )


def test_built_ins_come_first_whenever_they_register() -> None:
    registry = Registry()
    registry.add(_inv("acme.first", builtin=False, origin="conftest.first"))
    registry.add(_inv("leak.field", builtin=True, origin="builtins.field"))
    registry.add(_inv("type.record", builtin=True, origin="builtins.record"))
    assert [i.id for i in registry] == ["leak.field", "type.record", "acme.first"]
    assert registry.families() == ("leak", "type", "acme")


def test_a_user_invariant_registered_before_the_built_ins_is_the_duplicate() -> None:
    registry = Registry()
    registry.add(_inv("leak.field", builtin=False, origin="conftest.mine"))
    with pytest.raises(InvariantError, match=r"by builtins\.field and by conftest\.mine"):
        registry.add(_inv("leak.field", builtin=True, origin="builtins.field"))
    assert registry.get("leak.field").builtin  # type: ignore[union-attr]
    deferred = Registry()
    deferred.defer_errors = True
    deferred.add(_inv("leak.field", builtin=False, origin="conftest.mine"))
    deferred.add(_inv("leak.field", builtin=True, origin="builtins.field"))
    assert deferred.take_errors() == [
        "invariant id 'leak.field' registered twice: by builtins.field and by conftest.mine"
    ]
    assert [i.origin for i in deferred] == ["builtins.field"]
