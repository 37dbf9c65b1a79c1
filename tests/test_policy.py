"""A deployment's policy files (``--actionsec-policy``) and the personas that read a record.

Real nova 34, its real policy enforcer built with the files, real Hypothesis runs and a
real sqlite store; the plugin as users run it (pytester subprocesses). Each check has
both verdicts: nova's defaults give today's audiences, a widening file widens them and a
narrowing one narrows them; the paranoid packer stays clean under a widening file while
a leaky packer's leak reaches the personas the file lets read it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_actionsec import exposure
from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import Group, builtin_groups, run_group
from pytest_actionsec.exposure import (
    KINDS,
    MICROVERSIONS,
    NEWEST_MICROVERSION,
    SERVER_PROJECT_ID,
    SERVER_UUID,
    marked_fields,
    readers,
    render_views,
    visible_fields,
)
from pytest_actionsec.personas import (
    LEVELS,
    PERSONA_NAMES,
    PERSONAS,
    SEVERITIES,
    audience_rank,
    level_of,
    level_rank,
    widest,
)
from pytest_actionsec.policies import PolicyError, PolicySet, load_policies
from pytest_actionsec.registry import SEVERITIES as REGISTRY_SEVERITIES
from pytest_actionsec.store import Store
from pytest_actionsec.targets import resolve_target

pytest.importorskip("nova")

ROOT = Path(__file__).resolve().parents[1]
FINISH = "pack_action_event_finish"
START = "pack_action_start"
FAULT = "add_instance_fault_from_exc"
DETAILS_RULE = "os_compute_api:os-instance-actions:events:details"
#: opens event details to the project's readers (nova's own description warns of it)
WIDEN = f'"{DETAILS_RULE}": "rule:project_reader_or_admin"\n'
#: instance actions shown to admins only
NARROW = '"os_compute_api:os-instance-actions:show": "rule:context_is_admin"\n'
#: nova's service role counted as an admin
SERVICE_ADMIN = '"context_is_admin": "role:admin or role:service"\n'
#: every instance-action rule open to anyone: another project still does not find the server
OPEN = (
    '"os_compute_api:os-instance-actions:show": "@"\n'
    '"os_compute_api:os-instance-actions:events": "@"\n'
    f'"{DETAILS_RULE}": "@"\n'
    '"os_compute_api:servers:show": "@"\n'
)
OTHERS = {"other_project_member", "other_project_reader"}
PROJECT = {"project_manager", "project_member", "project_reader"}
EVENT_ROW: dict[str, Any] = {
    "event": "compute_x",
    "instance_uuid": SERVER_UUID,
    "request_id": "req-1",
    "result": "Error",
    "details": "@details@",
    "traceback": "@traceback@",
    "host": "cmp-1",
}
ACTION_ROW: dict[str, Any] = {
    "action": "reboot",
    "instance_uuid": SERVER_UUID,
    "request_id": "req-1",
    "user_id": "u-1",
    "project_id": SERVER_PROJECT_ID,
    "message": "Error",
}
FAULT_ROW: dict[str, Any] = {
    "code": 500,
    "message": "@message@",
    "details": "@fault-details@",
    "created_at": dt.datetime(2026, 11, 22, 12, 0, 0),
}


@pytest.fixture
def policy(tmp_path: Path) -> Callable[..., PolicySet]:
    """``policy(text, ...)``: the policy files holding each text, read and checked."""

    def make(*texts: str, suffix: str = ".yaml") -> PolicySet:
        paths = []
        for index, text in enumerate(texts):
            path = tmp_path / f"policy{index}{suffix}"
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        found = load_policies(paths)
        assert found is not None
        return found

    return make


@pytest.fixture
def active() -> Iterator[Callable[[PolicySet | None], None]]:
    """Render with the given policies for the test; nova's defaults again afterwards."""
    yield exposure.use_policies
    exposure.use_policies(None)


# --- the tables --------------------------------------------------------------------------------


def test_the_persona_table_ranks_levels_narrowest_first() -> None:
    levels = [level_rank(p.level) for p in PERSONAS]
    assert levels == sorted(levels) and min(levels) > level_rank("stored")
    assert SEVERITIES == REGISTRY_SEVERITIES == tuple(name for name, _ in LEVELS)
    assert {p.level for p in PERSONAS if "admin" in p.roles or "service" in p.roles} == {"admin"}
    assert {p.level for p in PERSONAS if not {"admin", "service"} & set(p.roles)} == {"tenant"}
    assert level_of(()) == "stored" and level_of(["admin", "project_reader"]) == "tenant"
    assert widest(["project_member", "admin"]) == "project_member" and widest([]) == ""
    # another project's reader is a wider audience than the server's own reader
    assert audience_rank("tenant", ["other_project_reader"]) > audience_rank(
        "tenant", ["project_reader"]
    )
    assert audience_rank("tenant", ["project_reader"]) > audience_rank("admin", ["admin"])


# --- reading the files --------------------------------------------------------------------------


def test_yaml_and_json_files_apply_in_order(policy: Callable[..., PolicySet]) -> None:
    found = policy(WIDEN, f'{{"{DETAILS_RULE}": "rule:project_member_or_admin"}}')
    assert found.merged() == {DETAILS_RULE: "rule:project_member_or_admin"}  # later file wins
    assert len(found.paths) == 2 and all(os.path.isabs(p) for p in found.paths)
    assert found.describe() == ",".join(found.paths)
    assert load_policies([]) is None
    # a helper rule of the deployment's own is fine when a rule refers to it
    helper = policy(
        '"my_readers": "role:reader and project_id:%(project_id)s"\n'
        f'"{DETAILS_RULE}": "rule:my_readers"\n'
    )
    assert set(helper.merged()) == {"my_readers", DETAILS_RULE}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2\n", "not YAML or JSON"),
        ("- a\n- b\n", "must map rule names to check strings, not a list"),
        (f'"{DETAILS_RULE}": 5\n', f"rule '{DETAILS_RULE}': the check must be a string, not int"),
        (
            f'"{DETAILS_RULE}": "role:admin or"\n',
            f"rule '{DETAILS_RULE}': oslo.policy cannot parse 'role:admin or'",
        ),
        (
            '"os_compute_api:os-instance-actions:evnts:details": "@"\n',
            "rule 'os_compute_api:os-instance-actions:evnts:details' is not a rule nova defines",
        ),
        (
            f'"{DETAILS_RULE}": "rule:nobody_defines_this"\n',
            "refers to rule:nobody_defines_this, which neither nova nor the policy files define",
        ),
        (
            '"context_is_admin": "rule:project_member_or_admin"\n',
            "rule 'context_is_admin' refers to itself (a circle)",
        ),
    ],
)
def test_a_file_that_cannot_be_used_is_one_line_naming_file_and_rule(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as raised:
        load_policies([str(path)])
    assert str(raised.value).startswith(f"policy file {path}: ")
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"policy file .*nope\.yaml: cannot be read: No such"):
        load_policies([str(tmp_path / "nope.yaml")])


# --- who reads what ---------------------------------------------------------------------------

_FUNCTION_OF = {"event": FINISH, "action": START, "fault": FAULT}


def test_with_nova_defaults_no_other_project_and_no_service_reads_anything() -> None:
    for kind in KINDS:
        for mv in MICROVERSIONS:
            for name in (*OTHERS, "service"):
                assert visible_fields(kind, name, mv) == frozenset(), (kind, name, mv)
    # and today's coarse audiences
    assert readers(FINISH, "details") == ("admin", "project_admin")
    assert readers(FINISH, "traceback") == ("admin", "project_admin")
    assert readers(FAULT, "details") == ("admin", "project_admin")
    assert set(readers(FAULT, "details", {"code": 409})) == {"admin", "project_admin", *PROJECT}
    assert set(readers(START, "project_id")) == {"admin", "project_admin", *PROJECT}
    assert exposure.audience(FINISH, "details") == "admin"
    assert exposure.audience(START, "project_id") == "tenant"
    # the members of earlier releases read what project_member and project_admin read
    for kind in KINDS:
        assert visible_fields(kind, "member", NEWEST_MICROVERSION) == visible_fields(
            kind, "project_member", NEWEST_MICROVERSION
        )
        assert visible_fields(kind, "admin", NEWEST_MICROVERSION) == visible_fields(
            kind, "project_admin", NEWEST_MICROVERSION
        )


def test_a_file_opening_event_details_to_readers_widens_only_details(
    policy: Callable[..., PolicySet],
) -> None:
    widened = policy(WIDEN)
    assert set(readers(FINISH, "details", policies=widened)) == {"admin", "project_admin", *PROJECT}
    assert readers(FINISH, "traceback", policies=widened) == ("admin", "project_admin")
    assert exposure.audience(FINISH, "details", policies=widened) == "tenant"
    # only from 2.84, where nova shows details at all
    assert "details" in visible_fields("event", "project_reader", "2.84", policies=widened)
    assert "details" not in visible_fields("event", "project_reader", "2.83", policies=widened)
    for kind in KINDS:  # no other project, no service
        for field in marked_fields(kind):
            found = set(readers(_FUNCTION_OF[kind], field, policies=widened))
            assert not found & (OTHERS | {"service"}), (kind, field)


def test_a_file_making_actions_admin_only_removes_the_member_personas(
    policy: Callable[..., PolicySet],
) -> None:
    narrowed = policy(NARROW)
    for field in ("project_id", "request_id", "action", "start_time"):
        assert set(readers(START, field)) >= PROJECT  # the defaults
        assert readers(START, field, policies=narrowed) == ("admin", "project_admin")
        assert exposure.audience(START, field, policies=narrowed) == "admin"
    assert readers(FINISH, "event", policies=narrowed) == ("admin", "project_admin")
    # a server's fault is not an instance action: its readers stay
    assert set(readers(FAULT, "message", policies=narrowed)) >= PROJECT


def test_context_is_admin_in_a_file_decides_what_the_service_role_reads(
    policy: Callable[..., PolicySet],
) -> None:
    assert "service" not in readers(FINISH, "traceback")
    adminish = policy(SERVICE_ADMIN)
    assert "service" in readers(FINISH, "traceback", policies=adminish)
    assert exposure.audience(FINISH, "traceback", policies=adminish) == "admin"


def test_an_open_policy_still_hides_another_projects_server(
    policy: Callable[..., PolicySet],
) -> None:
    """nova's database finds a server for its own project's users only (project_only):
    a policy of ``@`` does not show it to another project."""
    opened = policy(OPEN)
    views = render_views(FINISH, EVENT_ROW, policies=opened)
    for mv in MICROVERSIONS:
        for name in (*OTHERS, "service"):
            assert views[f"{name}@{mv}"] is None
    reader = views[f"project_reader@{NEWEST_MICROVERSION}"]
    assert reader["details"] == "@details@" and reader["traceback"] == "@traceback@"
    fault = render_views(FAULT, FAULT_ROW, policies=opened)
    assert fault[f"other_project_member@{NEWEST_MICROVERSION}"] is None
    # the db filter is nova's own is_user_context: an admin of another project finds it
    assert fault[f"admin@{NEWEST_MICROVERSION}"]["details"] == "@fault-details@"


@pytest.mark.parametrize("texts", [(), (WIDEN,), (NARROW,), (SERVICE_ADMIN,), (OPEN,)])
def test_one_render_per_set_of_decisions_reads_as_a_render_per_persona(
    policy: Callable[..., PolicySet], texts: tuple[str, ...]
) -> None:
    policies = policy(*texts) if texts else None
    for function, row in ((FINISH, EVENT_ROW), (START, ACTION_ROW), (FAULT, FAULT_ROW)):
        for code in (500, 409):
            shown = {**row, "code": code} if function == FAULT else row
            shared = render_views(function, shown, policies=policies)
            fresh = render_views(function, shown, policies=policies, share=False)
            assert shared == fresh, (function, code)
            assert set(shared) == {f"{p}@{mv}" for p in PERSONA_NAMES for mv in MICROVERSIONS}


def test_the_active_policies_are_used_and_reset(
    policy: Callable[..., PolicySet], active: Callable[[PolicySet | None], None]
) -> None:
    widened = policy(WIDEN)
    active(widened)
    assert exposure.active_policies() is widened
    assert "project_reader" in readers(FINISH, "details")
    views = render_views(FINISH, EVENT_ROW)
    assert views[f"project_reader@{NEWEST_MICROVERSION}"]["details"] == "@details@"
    active(None)
    assert readers(FINISH, "details") == ("admin", "project_admin")


# --- findings -----------------------------------------------------------------------------------


def _leaks(target: str, layer: str, *, store: Store | None = None, seed: int = 1) -> list[Any]:
    with SkewedClock() as clock:
        result = run_group(
            Group(FINISH, layer),
            resolve_target(target),
            families=["leak"],
            seed=seed,
            max_examples=30,
            clock=clock,
            database=None,
            store=store,
        )
    return [v for v in result.violations if v.invariant == "leak.field"]


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    opened = Store.open(None)
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("layer", "mutant"),
    [
        ("packer", "tests.zoo.m_leak_str_fallback"),  # str(exc) when format_message fails
        ("api", "tests.zoo.m_leak_boundary"),  # the RPC boundary passes str(exc) on
    ],
)
def test_an_event_details_leak_reaches_the_projects_reader_under_a_widening_file(
    policy: Callable[..., PolicySet],
    active: Callable[[PolicySet | None], None],
    store: Store,
    layer: str,
    mutant: str,
) -> None:
    """An exception's text in an event's details (CVE-2019-14433's kind): admins only with
    nova's defaults, the project's readers too with the file; never another project."""
    used = store if layer == "api" else None
    (default,) = {(v.severity, v.audience) for v in _leaks(mutant, layer, store=used)}
    assert default == ("admin", ("admin", "project_admin"))
    active(policy(WIDEN))
    found = {(v.field, v.severity, v.audience) for v in _leaks(mutant, layer, store=used)}
    assert found == {("details", "tenant", ("admin", "project_admin", *sorted_personas(PROJECT)))}


def sorted_personas(names: set[str]) -> tuple[str, ...]:
    """``names`` in the persona table's order."""
    return tuple(name for name in PERSONA_NAMES if name in names)


@pytest.mark.parametrize("mode", ["contract", "hostile"])
def test_the_paranoid_packer_stays_clean_under_a_widening_file(
    policy: Callable[..., PolicySet],
    active: Callable[[PolicySet | None], None],
    store: Store,
    mode: str,
) -> None:
    active(policy(WIDEN, OPEN, SERVICE_ADMIN))
    paranoid = resolve_target("tests.zoo.paranoid")
    for group in builtin_groups(("packer", "boundary", "store", "api")):
        with SkewedClock() as clock:
            result = run_group(
                group,
                paranoid,
                mode=mode,
                seed=1,
                max_examples=15,
                clock=clock,
                database=None,
                store=store,
            )
        own = [v.to_dict() for v in result.violations if not v.blame]
        assert result.status == "passed" and not own, (group.id, own)


# --- the plugin -----------------------------------------------------------------------------------


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), old]))
    try:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=600)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot be read: No such file or directory"),
        (
            '"os_compute_api:os-instance-actions:evnts:details": "@"\n',
            "rule 'os_compute_api:os-instance-actions:evnts:details' is not a rule nova defines",
        ),
    ],
)
def test_a_bad_policy_file_is_a_one_line_usage_error(
    pytester: pytest.Pytester, text: str | None, message: str
) -> None:
    if text is not None:
        pytester.path.joinpath("policy.yaml").write_text(text, encoding="utf-8")
    result = _run(pytester, "--actionsec", "--actionsec-policy=policy.yaml", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR: ")]
    path = pytester.path / "policy.yaml"
    assert len(errors) == 1, result.stderr.str()
    assert errors[0].startswith(f"ERROR: --actionsec-policy: policy file {path}: ")
    assert message in errors[0]
    assert "Traceback" not in result.stderr.str()


def test_the_header_names_the_files_and_the_report_lists_the_personas(
    pytester: pytest.Pytester,
) -> None:
    from jsonschema import Draft202012Validator

    pytester.path.joinpath("widen.yaml").write_text(WIDEN, encoding="utf-8")
    pytester.path.joinpath("narrow.json").write_text(
        '{"os_compute_api:os-instance-actions:events": "rule:context_is_admin"}',
        encoding="utf-8",
    )
    pytester.makeini("[pytest]\nactionsec_policy =\n    widen.yaml\n    narrow.json\n")
    result = _run(
        pytester,
        "--actionsec",
        "--actionsec-target=tests.zoo.m_leak_str_fallback",
        "--actionsec-layers=packer",
        "--actionsec-examples=30",
        "--actionsec-seed=1",
        "--actionsec-report=report.json",
        "-k",
        "leak and pack_action_event_finish",
    )
    files = f"{pytester.path / 'widen.yaml'},{pytester.path / 'narrow.json'}"
    result.stdout.fnmatch_lines([f"*policy={files} (ini actionsec_policy)*"])
    result.stdout.fnmatch_lines(["*personas:  admin, project_admin, project_manager, *"])
    report = json.loads(pytester.path.joinpath("report.json").read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "pytest_actionsec" / "report.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(report)) == []
    leaks = {
        (v["field"], v["severity"], tuple(v["audience"]))
        for v in report["violations"]
        if v["invariant"] == "leak.field"
    }
    assert leaks == {("details", "tenant", ("admin", "project_admin", *sorted_personas(PROJECT)))}
    # the replay line repeats the flag for each file
    flags = "--actionsec-policy=widen.yaml --actionsec-policy=narrow.json"
    result.stdout.fnmatch_lines([f"*replay: pytest --actionsec *{flags}*"])
    # the audience is a list of personas, not one
    bad = json.loads(json.dumps(report))
    first = next(v for v in bad["violations"] if "audience" in v)
    first["audience"] = "project_reader"
    assert not Draft202012Validator(schema).is_valid(bad)


def test_a_replay_renders_and_judges_with_the_runs_policy_files(
    tmp_path: Path, active: Callable[[PolicySet | None], None]
) -> None:
    from pytest_actionsec.replay import Replay

    path = tmp_path / "widen.yaml"
    path.write_text(WIDEN, encoding="utf-8")
    Replay(FINISH, "packer", policies=[str(path)])
    chosen = exposure.active_policies()
    assert chosen is not None and chosen.paths == (str(path),)
    assert "project_reader" in readers(FINISH, "details")
    with pytest.raises(PolicyError, match="cannot be read"):
        Replay(FINISH, "packer", policies=[str(tmp_path / "missing.yaml")])


@pytest.mark.parametrize("texts", [(), (SERVICE_ADMIN,)])
def test_the_server_lookup_finds_what_novas_database_finds_for_every_persona(
    policy: Callable[..., PolicySet], store: Store, texts: tuple[str, ...]
) -> None:
    """The lookup stub against nova's own ``instance_get_by_uuid`` on a real database:
    found for the server's project and for admins (``context_is_admin`` decides who is
    one), not found for another project's users."""
    import warnings

    from pytest_actionsec.nova import modules

    nova = modules()
    admin = nova.context.get_admin_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nova.db.instance_create(
            admin, {"uuid": SERVER_UUID, "project_id": SERVER_PROJECT_ID, "user_id": "u-1"}
        )
    policies = policy(*texts) if texts else None
    try:
        found = {}
        with exposure._rendering(policies) as rendering:
            for persona in PERSONAS:
                context = exposure._context(rendering, persona)
                try:
                    nova.db.instance_get_by_uuid(context, SERVER_UUID)
                    in_db = True
                except nova.exception.InstanceNotFound:
                    in_db = False
                stub = exposure._finds(rendering, context, exposure._instance(rendering, context))
                assert stub == in_db, persona.name
                found[persona.name] = in_db
    finally:
        nova.db.instance_destroy(admin, SERVER_UUID, hard_delete=True)
    assert {name for name, yes in found.items() if not yes} == (
        OTHERS | ({"service"} if not texts else set())
    )
