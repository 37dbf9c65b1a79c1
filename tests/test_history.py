"""The history machine (issue 22) on real databases and nova 34's own DB API, no mocks.

The paranoid store gives no finding; each mutant is caught by the invariant it breaks;
nova 34's findings are reproduced step by step (each checked on the rows themselves)
and found by Hypothesis; a printed sequence replays in a fresh process. MariaDB and
PostgreSQL run the concurrent machine when a server answers (else skipped, with the
reason); sqlite runs the sequential one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.errors import HistoryError
from pytest_actionsec.history.machine import HistoryFailure, HistoryWorld
from pytest_actionsec.history.run import machine_class, run_history
from pytest_actionsec.history.stores import MUTANTS, history_store
from pytest_actionsec.invariants.history import (
    HISTORY_INVARIANTS,
    MONOTONE,
    OWN_REQUEST,
    PROJECT_ISOLATION,
    RECORDED_ONCE,
)
from pytest_actionsec.store import Store, StoreError

pytest.importorskip("nova")

ROOT = Path(__file__).resolve().parents[1]
MYSQL_URL = os.environ.get("ACTIONSEC_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")
POSTGRESQL_URL = os.environ.get(
    "ACTIONSEC_TEST_POSTGRESQL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
SEED = 20261201

#: What nova 34 shows, by (invariant, kind): each checked by hand below.
NOVA_FINDINGS = {
    (RECORDED_ONCE, "lost"),
    (OWN_REQUEST, "message"),
    (OWN_REQUEST, "recovery-path"),
    (MONOTONE, "regression"),
    (MONOTONE, "missed"),
}


#: What each mutant may show: its defect, and what follows from it.
MUTANT_FINDINGS = {
    "leaky-list": {(PROJECT_ISOLATION, "index")},
    "lost-update": {(RECORDED_ONCE, "lost")},
    "clock-regression": {(MONOTONE, "regression"), (MONOTONE, "missed")},
    "cross-request": {
        (OWN_REQUEST, "attach"),
        (OWN_REQUEST, "message"),
        (OWN_REQUEST, "recovery-path"),
        (RECORDED_ONCE, "message"),
    },
}


class _Slot:
    """The process's one open Store (Store.open allows one), reopened per URL."""

    def __init__(self) -> None:
        self.store: Store | None = None
        self.url: str | None = None

    def get(self, url: str | None = None) -> Store:
        if self.store is not None and not self.store.closed and self.url == url:
            return self.store
        self.release()
        try:
            self.store = Store.open(url)
        except StoreError as exc:
            if url is None:
                raise
            pytest.skip(f"no usable server: {exc}")
        self.url = url
        return self.store

    def release(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


@pytest.fixture(scope="module")
def slot() -> Iterator[_Slot]:
    holder = _Slot()
    yield holder
    holder.release()


@pytest.fixture
def sqlite(slot: _Slot) -> Store:
    return slot.get()


def _machine(store: Store, history: str, clock: SkewedClock, **kw: Any) -> Any:
    world = HistoryWorld(store, history_store(history, store), clock, **kw)
    return machine_class(world)()


def _kinds(result: Any) -> set[tuple[str, str]]:
    return {(v.invariant, v.kind) for v in result.violations}


# -- the invariants ------------------------------------------------------------------


def test_history_invariants_are_registered_with_ids_statements_and_sources() -> None:
    from pytest_actionsec.oracle import FAMILIES

    ids = [i.id for i in HISTORY_INVARIANTS]
    assert ids == [
        "history.recorded-once",
        "history.own-request",
        "history.project-isolation",
        "history.monotone",
        "history.refused",
    ]
    for inv in HISTORY_INVARIANTS:
        assert inv.family == "history" and inv.statement and inv.source and inv.builtin
    # they judge histories, not calls: the per-call families are unchanged
    assert "history" not in FAMILIES


def test_bad_input_is_a_one_line_history_error(sqlite: Store) -> None:
    with pytest.raises(HistoryError, match=r"^unknown history store 'nope', not one of "):
        run_history(sqlite, "nope", max_examples=1)
    with pytest.raises(HistoryError, match="runs sqlite sequentially"):
        run_history(sqlite, "paranoid", max_examples=1, concurrent=True)


# -- nova 34, step by step (the minimal sequences Hypothesis prints) --------------------


def test_nova_finishes_a_retried_step_on_the_first_row(sqlite: Store) -> None:
    """action_event_finish finds the event by (action, name) with .first(): the retry's
    finish lands on the first attempt's row, which was already finished."""
    with SkewedClock() as clock:
        state = _machine(sqlite, "nova", clock)
        try:
            state.clocks(skews=(0, 0, 0))
            r = state.request(action="resize", server=0)
            first = state.start_event(host=0, request=r, step="compute_resize_instance")
            state.finish_event(event=first, failed=True)
            state.history_holds()
            second = state.retry_step(host=1, request=r)
            with pytest.raises(HistoryFailure) as caught:
                state.finish_event(event=second, failed=False)
                state.history_holds()
            noted = caught.value.noted
            assert (noted.invariant, noted.finding.kind) == (RECORDED_ONCE, "lost")
            rows = {row["id"]: row for row in state._truth().events}
            a, b = rows[state.evs[first].row_id], rows[state.evs[second].row_id]
            # by hand: host 0's failure was overwritten with host 1's success (keeping
            # host 0's error details and traceback), and host 1's row never finished
            assert (a["host"], a["result"]) == ("compute-0", "Success")
            assert "failed on compute-0" in a["details"] and a["traceback"]
            assert (b["host"], b["finish_time"], b["result"]) == ("compute-1", None, None)
        finally:
            state.teardown()


def test_nova_periodic_failure_lands_in_and_marks_another_request(sqlite: Store) -> None:
    """A periodic task's failed step (no project, its own request id) is attached to the
    server's newest action (bug 1817542), and although nova means not to update that
    action, its message becomes 'Error' (the ORM object is changed and flushed)."""
    with SkewedClock() as clock:
        state = _machine(sqlite, "nova", clock)
        try:
            state.clocks(skews=(0, 0, 0))
            r = state.request(action="resize", server=0)
            before = {a["request_id"]: a for a in state._truth().actions}
            with pytest.raises(HistoryFailure) as caught:
                state.periodic_step(failed=True, host=0, request=r, step="compute_resize_instance")
                state.history_holds()
            found = {(n.invariant, n.finding.kind) for n in state.world.noted.values()}
            assert (OWN_REQUEST, "message") in found
            assert (OWN_REQUEST, "recovery-path") in found
            assert caught.value.noted.invariant == OWN_REQUEST
            truth = state._truth()
            (action,) = [a for a in truth.actions if a["request_id"] == state.reqs[r].request_id]
            assert action["message"] == "Error"  # by hand: the row itself says so
            assert before[action["request_id"]]["message"] is None
            (event,) = truth.events
            assert event["action_id"] == action["id"] and event["result"] == "Error"
            assert len(truth.actions) == 1  # the periodic request has no action of its own
            blamed = [n for n in state.world.noted.values() if n.finding.kind == "recovery-path"]
            assert blamed[0].finding.blame.startswith("documented: ")
            assert "a member of the server's project reads it" in blamed[0].finding.evidence
        finally:
            state.teardown()


def test_nova_moves_updated_at_back_with_a_slow_host_clock(sqlite: Store) -> None:
    with SkewedClock() as clock:
        state = _machine(sqlite, "nova", clock)
        try:
            state.clocks(skews=(-90, 0, 0))
            r = state.request(action="resize", server=0)
            state.history_holds()
            with pytest.raises(HistoryFailure) as caught:
                state.start_event(host=0, request=r, step="compute_resize_instance")
                state.history_holds()
            assert (caught.value.noted.invariant, caught.value.noted.finding.kind) == (
                MONOTONE,
                "regression",
            )
        finally:
            state.teardown()


def test_nova_changes_since_poller_misses_a_change_after_a_fast_host(sqlite: Store) -> None:
    """A host 45 s ahead sets updated_at ahead; the poller's newest updated_at is then
    later than the API clock's next request: changes-since no longer lists it."""
    with SkewedClock() as clock:
        state = _machine(sqlite, "nova", clock)
        try:
            state.clocks(skews=(45, 0, 0))
            r = state.request(action="resize", server=0)
            state.start_event(host=0, request=r, step="compute_resize_instance")
            state.poll(server=0)
            later = state.request(action="resize", server=0)
            with pytest.raises(HistoryFailure) as caught:
                state.poll(server=0)
            noted = caught.value.noted
            assert (noted.invariant, noted.layer, noted.finding.kind) == (MONOTONE, "api", "missed")
            assert f"request #{later}'s action" in noted.finding.evidence
        finally:
            state.teardown()


def test_the_paranoid_store_passes_the_same_sequences(sqlite: Store) -> None:
    with SkewedClock() as clock:
        state = _machine(sqlite, "paranoid", clock)
        try:
            state.clocks(skews=(45, -90, 0))
            r = state.request(action="resize", server=0)
            first = state.start_event(host=0, request=r, step="compute_resize_instance")
            state.finish_event(event=first, failed=True)
            second = state.retry_step(host=1, request=r)
            state.finish_event(event=second, failed=False)
            state.periodic_step(failed=True, host=1, request=r, step="compute_live_migration")
            state.poll(server=0)
            state.request(action="resize", server=0)
            state.poll(server=0)
            state.poll(server=1)
            state.history_holds()
            assert state.world.noted == {}
        finally:
            state.teardown()


# -- Hypothesis runs ---------------------------------------------------------------------


def test_paranoid_store_gives_no_finding(sqlite: Store) -> None:
    result = run_history(sqlite, "paranoid", max_examples=150, seed=SEED)
    assert result.violations == []
    assert result.sequences >= 150 and result.steps > 400


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_each_mutant_is_caught_by_its_invariant(sqlite: Store, mutant: str) -> None:
    result = run_history(sqlite, mutant, max_examples=150, seed=SEED)
    breaks = MUTANTS[mutant].breaks
    assert breaks in {v.invariant for v in result.failing()}
    # nothing false: every finding is the mutant's defect or its direct consequence (an
    # event attached to another request takes its failure's 'Error' there)
    assert _kinds(result) <= MUTANT_FINDINGS[mutant], _kinds(result)


def test_nova_findings_are_the_hand_checked_ones_and_replay(sqlite: Store) -> None:
    result = run_history(sqlite, "nova", max_examples=100, seed=SEED)
    found = _kinds(result)
    assert found <= NOVA_FINDINGS, found - NOVA_FINDINGS
    assert {
        (RECORDED_ONCE, "lost"),
        (OWN_REQUEST, "recovery-path"),
        (MONOTONE, "regression"),
    } <= found
    blamed = [v for v in result.violations if v.blame]
    assert [v.kind for v in blamed] == ["recovery-path"]
    assert "noted='history.own-request (recovery-path)'" in blamed[0].input
    for v in result.violations:
        assert v.family == "history" and v.function == "server-history"
        assert "replay_machine('nova'" in v.input and "state = HistoryMachine()" in v.input
    lost = next(v for v in result.violations if v.invariant == RECORDED_ONCE)
    assert len(lost.input.splitlines()) <= 20  # shrunk to a few steps
    _replays(lost.input, RECORDED_ONCE)


def test_a_sequence_cap_bounds_the_run_and_keeps_short_sequences(sqlite: Store) -> None:
    result = run_history(sqlite, "nova", max_examples=20, seed=SEED, max_sequences=150)
    assert result.sequences <= 151
    found = _kinds(result)
    assert found and found <= NOVA_FINDINGS
    for v in result.violations:  # the shortest sequence seen, ending where it broke
        steps = v.input.splitlines()[3:]
        assert steps[0] == "state = HistoryMachine()" and steps[-1] == "state.teardown()"
        assert len([s for s in steps if "history_holds" not in s]) <= 2 + 12 + 1
        # each replays its own finding (nova's documented recovery path too)
        _replays(v.input, f"{v.invariant} ({v.kind})")


def _replays(script: str, invariant_id: str, url: str | None = None) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("ACTIONSEC_STORE", None)
    if url:
        env["ACTIONSEC_STORE"] = url
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert invariant_id in done.stderr.splitlines()[-1], done.stderr[-2000:]


# -- concurrency on server databases ----------------------------------------------------------


@pytest.mark.parametrize("url", [MYSQL_URL, POSTGRESQL_URL], ids=["mariadb", "postgresql"])
def test_concurrent_finishes_on_a_server(slot: _Slot, url: str) -> None:
    store = slot.get(url)
    paranoid = run_history(store, "paranoid", max_examples=60, seed=SEED)
    assert paranoid.concurrent and paranoid.violations == []
    with SkewedClock() as clock:
        state = _machine(store, "nova", clock, concurrent=True)
        try:
            state.clocks(skews=(0, 0, 0))
            r = state.request(action="resize", server=0)
            a = state.start_event(host=0, request=r, step="compute_resize_instance")
            b = state.retry_step(host=1, request=r)
            # two hosts finish the two same-named events at once, each in its own thread
            # and session; which row each finish finds (.first() without an order) is
            # the database's doing: the judgement must match the rows either way
            try:
                state.finish_together(failed=True, first=b, second=a)
                state.history_holds()
                caught = None
            except HistoryFailure as failure:
                caught = failure
            rows = {row["id"]: row for row in state._truth().events}
            own = [
                (rows[ev.row_id]["finish_time"] is not None, rows[ev.row_id]["result"])
                == (True, ev.result)
                for ev in (state.evs[a], state.evs[b])
            ]
            if caught is None:
                assert all(own)
            else:
                assert caught.noted.invariant == RECORDED_ONCE and not all(own)
        finally:
            state.teardown()


# -- the built-in suite's items ---------------------------------------------------------------


def _suite(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    for name in ("ACTIONSEC_STORE", "ACTIONSEC_SEED", "ACTIONSEC_EXAMPLES"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--actionsec", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_history_items_are_selected_by_keyword(tmp_path: Path) -> None:
    listed = _suite(tmp_path, "--co", "-q", "-k", "history").stdout
    assert "actionsec[history-server-history-store]" in listed
    assert "actionsec[history-server-history-api]" in listed
    assert "pack_action" not in listed
    dropped = _suite(tmp_path, "--co", "-q", "-k", "not history").stdout
    assert "history-server-history" not in dropped and "pack_action_start" in dropped
    only_packer = _suite(tmp_path, "--co", "-q", "--actionsec-layers=packer").stdout
    assert "history-server-history" not in only_packer


def test_history_items_report_their_findings_with_replays(tmp_path: Path) -> None:
    import json

    done = _suite(
        tmp_path,
        "-k",
        "history",
        "--actionsec-seed=5",
        "--actionsec-report=r.json",
    )
    assert done.returncode == 1, done.stdout[-3000:]
    assert "FAILED actionsec[history-server-history-store]" in done.stdout
    replay = [line for line in done.stdout.splitlines() if line.startswith("replay: ")]
    assert replay and "--actionsec-seed=5" in replay[0] and replay[0].endswith("-k history")
    report = json.loads((tmp_path / "r.json").read_text())
    props = {p["id"]: p for p in report["properties"]}
    assert set(props) == {"history-server-history-store", "history-server-history-api"}
    assert props["history-server-history-store"]["status"] == "failed"
    found = {(v["invariant"], v["layer"]) for v in report["violations"]}
    assert ("history.recorded-once", "store") in found
    noted = [v for v in report["violations"] if v.get("noted")]
    assert {v["invariant"] for v in noted} == {"history.own-request"}
    lost = next(v for v in report["violations"] if v["invariant"] == "history.recorded-once")
    _replays(lost["input"], "history.recorded-once")
