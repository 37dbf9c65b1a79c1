"""The stateful machine: a server's action history under many writers and many clocks.

:class:`HistoryMachine` is a Hypothesis ``RuleBasedStateMachine`` that drives a
:class:`~pytest_actionsec.history.stores.HistoryStore` (nova's own database API by
default) the way nova's services do, packing every record with nova's own helpers:

* ``request``: an API request of a server's project starts an action (the request's
  context is built on the API's clock, so ``start_time`` is its timestamp);
* ``start_event``/``finish_event``: a compute host, on its own skewed clock, starts and
  finishes a step of a request, succeeding or failing (a failure is passed as
  ``serialize_args`` hands it over RPC: a message and a formatted traceback); a step
  started twice for one request (``retry_step``: a reschedule, the other host of a
  migration) is two events of one name;
* ``finish_together``: two finishes at one instant; on MariaDB and PostgreSQL from two
  threads with their own sessions at once, on sqlite one after the other;
* ``periodic_step``: a periodic task (a context without a project, with a request id of
  its own, as nova-compute's ``init_host`` has) starts and finishes a step on a server;
* ``finish_action``, ``wait`` (time passes), ``poll`` (a member of the server's project
  reads the history through nova's API code: ``index`` with ``changes-since`` from the
  newest ``updated_at`` it saw, then ``show`` of each action listed).

After every step the history in the database is judged against the machine's own
ledger by the invariants of :mod:`pytest_actionsec.invariants.history`; a broken one
raises :class:`HistoryFailure` (one exception type per invariant and kind, so
Hypothesis shrinks each finding to its own minimal sequence of steps).

The clock is one :class:`~pytest_actionsec.clock.SkewedClock` started for the whole
run and moved before each step (never frozen per example).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from pytest_actionsec.constants import FIXED_TIME
from pytest_actionsec.history import reading
from pytest_actionsec.history.stores import HistoryStore
from pytest_actionsec.invariants.history import (
    HISTORY_INVARIANTS,
    MONOTONE,
    OWN_REQUEST,
    PROJECT_ISOLATION,
    RECORDED_ONCE,
    REFUSED,
)
from pytest_actionsec.registry import Finding
from pytest_actionsec.store import StoreUnavailable

__all__ = [
    "ACTIONS",
    "HOSTS",
    "SERVERS",
    "SKEWS",
    "STEPS",
    "HistoryFailure",
    "HistoryMachine",
    "HistoryWorld",
    "Noted",
]

#: Seconds each compute host's clock may be off the API's (drawn per sequence).
SKEWS: tuple[int, ...] = (0, -90, -2, 45)
#: Compute hosts (their names are what nova stores as an event's ``host``).
HOSTS: tuple[str, ...] = ("compute-0", "compute-1", "compute-2")
#: Servers, each of its own project.
SERVERS = 2
#: Event names (two, so that a step is often started twice for one request).
STEPS: tuple[str, ...] = ("compute_resize_instance", "compute_live_migration")
#: Action names an API request starts.
ACTIONS: tuple[str, ...] = ("resize", "live-migration")

_SECOND = _dt.timedelta(seconds=1)
_RECOVERY = "nova's documented recovery path (bug 1817542)"


@dataclass(frozen=True)
class Noted:
    """A finding of one step: ``invariant``, ``layer`` (``store``: the rows in the
    database; ``api``: what nova's API showed) and the registry's :class:`Finding`."""

    invariant: str
    layer: str
    finding: Finding


class HistoryFailure(AssertionError):
    """A broken history invariant; ``noted`` is the finding. Each (invariant, kind) has
    a subclass of its own (:func:`failure_type`)."""

    def __init__(self, noted: Noted) -> None:
        f = noted.finding
        super().__init__(f"{noted.invariant} ({f.kind}): {f.evidence}")
        self.noted = noted


_FAILURE_TYPES: dict[tuple[str, str], type[HistoryFailure]] = {}


def failure_type(invariant_id: str, kind: str) -> type[HistoryFailure]:
    """The exception type of one (invariant, kind): Hypothesis tells failures apart by it."""
    key = (invariant_id, kind)
    if key not in _FAILURE_TYPES:
        name = "".join(
            p.capitalize() for p in f"{invariant_id}.{kind}".replace("-", ".").split(".")
        )
        _FAILURE_TYPES[key] = type(name, (HistoryFailure,), {"__module__": __name__})
    return _FAILURE_TYPES[key]


@dataclass
class HistoryWorld:
    """What one run shares among its sequences: the database, the store under test, the
    clock, whether ``finish_together`` uses threads, and every finding seen."""

    store: Any
    history: HistoryStore
    clock: Any
    concurrent: bool = False
    #: every finding seen, by (invariant, layer, kind, field), the first time it was
    noted: dict[tuple[str, str, str, str], Noted] = field(default_factory=dict)
    sequences: int = 0
    steps: int = 0
    #: who reads an event nova's recovery path attached (asked of nova's API once)
    audience: str | None = None
    #: the steps of the sequence each finding was first seen in, by the ``noted`` key
    scripts: dict[tuple[str, str, str, str], list[str]] = field(default_factory=dict)
    #: ``time.monotonic()`` after which no new step starts (None: no deadline)
    deadline: float | None = None
    #: sequences after which the run stops, searching or shrinking (None: no cap)
    max_sequences: int | None = None
    #: ``"invariant (kind)"`` of a finding blamed on nova's documented behaviour to
    #: raise all the same (the replay of that finding's sequence shows it)
    raise_blamed: str | None = None
    _worlds: int = 0

    def next_world(self) -> int:
        """A fresh number for a sequence's servers and requests."""
        self._worlds += 1
        return self._worlds


@dataclass
class _Request:
    index: int
    server: int
    context: Any
    request_id: str
    periodic: bool = False


@dataclass
class _Event:
    index: int
    request: int
    name: str
    host: int
    row_id: int | None = None
    finished: bool = False
    result: str | None = None
    details: str | None = None


class _Cut(BaseException):
    """Ends a run at its deadline: Hypothesis does not catch it (nothing to shrink); the
    findings seen so far, each with the steps of the sequence that showed it, are kept."""


@dataclass
class _Truth:
    actions: list[dict[str, Any]]
    events: list[dict[str, Any]]


class HistoryMachine(RuleBasedStateMachine):
    """The machine; :attr:`world` is set on a subclass per run (:func:`machine_class`)."""

    world: ClassVar[HistoryWorld]
    requests = Bundle("requests")
    events = Bundle("events")

    def __init__(self) -> None:
        super().__init__()
        world = self.world
        world.sequences += 1
        self._n = world.next_world()
        self._nova = world.store._nova
        self.history = cast(HistoryStore, _EnvironmentFaults(world.history))
        self.servers = [
            reading.Server(
                f"5e7ae75e-{self._n % 0x10000:04x}-4000-8000-{i:012x}",
                f"actionsec-project-{i}",
                f"actionsec-user-{i}",
            )
            for i in range(SERVERS)
        ]
        self.now = FIXED_TIME
        self.skews = [0] * len(HOSTS)
        self.reqs: list[_Request] = []
        self.evs: list[_Event] = []
        self.seen_updated: dict[str, _dt.datetime] = {}
        self.changed: list[set[int]] = [set() for _ in range(SERVERS)]
        self.watermark: list[str | None] = [None] * SERVERS
        self.last_step = ""
        #: this sequence's steps so far, as Hypothesis prints them (handles are ints)
        self.script = ["state = HistoryMachine()"]
        self._instances()

    # -- plumbing ---------------------------------------------------------------

    def _instances(self) -> None:
        import sqlalchemy as sa

        table = self.world.store._tables["instances"]
        with environment_faults(), self.world.store._engine().begin() as conn:
            for s in self.servers:
                conn.execute(
                    sa.insert(table).values(
                        uuid=s.uuid, user_id=s.user_id, project_id=s.project_id, deleted=0
                    )
                )

    def teardown(self) -> None:
        """Delete every row the sequence wrote."""
        with environment_faults():
            self.world.store.clear()

    def _step(self, text: str) -> None:
        """Start a step: its line in :attr:`script`; past the world's deadline, stop."""
        world = self.world
        deadline = world.deadline
        capped = world.max_sequences is not None and world.sequences > world.max_sequences
        if capped or (deadline is not None and time.monotonic() >= deadline):
            raise _Cut()
        self.script.append(text)

    def _at(self, host: int | None, *, tick: bool = True) -> None:
        """Time passes one second; the clock reads as ``host``'s (None: the API's)."""
        if tick:
            self.now += _SECOND
        skew = 0 if host is None else self.skews[host]
        self.world.clock.move_to(self.now + _dt.timedelta(seconds=skew))
        self.world.steps += 1

    def _context(self, server: reading.Server | None, request_id: str) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if server is None:  # a periodic task: nova's admin context, no project
                return self._nova.context.RequestContext(
                    user_id=None,
                    project_id=None,
                    is_admin=True,
                    request_id=request_id,
                    overwrite=False,
                )
            return self._nova.context.RequestContext(
                user_id=server.user_id,
                project_id=server.project_id,
                is_admin=False,
                request_id=request_id,
                overwrite=False,
            )

    def _request_id(self, periodic: bool = False) -> str:
        n = len(self.reqs)
        return f"req-{self._n % 0x100000000:08x}-{'9' if periodic else '0'}000-4000-8000-{n:012x}"

    def _call(self, what: str, work: Callable[[], Any]) -> Any:
        """Run one store call; what the database refuses is a finding."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return work()
        except Exception as exc:
            from pytest_actionsec.store import _db_message, connection_fault, unavailable

            if connection_fault(exc):  # the environment's fault: no finding
                raise unavailable(exc) from None
            self._raise(
                [
                    Noted(
                        REFUSED,
                        "store",
                        Finding(
                            None,
                            f"{what} raised {type(exc).__name__}: {_db_message(exc)}",
                            kind=type(exc).__name__,
                        ),
                    )
                ]
            )

    def _raise(self, found: Sequence[Noted]) -> None:
        """Note every finding; raise the first failing one (by invariant, then kind)."""
        world = self.world
        order = [i.id for i in HISTORY_INVARIANTS]
        # a finding blamed on nova's documented behaviour is noted with the sequence that
        # showed it, never raised: it fails nothing, so Hypothesis does not shrink it
        failing = [
            n
            for n in found
            if not n.finding.blame or f"{n.invariant} ({n.finding.kind})" == world.raise_blamed
        ]
        wanted = [n for n in failing if n.finding.blame]  # the replay of a noted finding
        first = (
            min(wanted or failing, key=lambda n: (order.index(n.invariant), n.finding.kind))
            if failing
            else None
        )
        script = [*self.script, "state.teardown()"]
        for noted in found:
            f = noted.finding
            key = (noted.invariant, noted.layer, f.kind, f.field or "")
            # the shortest sequence that showed it: while Hypothesis shrinks, each smaller
            # sequence that still shows it replaces the last (kept if the run is cut); a
            # finding replaces its sequence only where it is the one raised (or nothing
            # is), so that the replay raises it
            own = noted is first or first is None
            if key not in world.noted or (own and len(script) < len(world.scripts[key])):
                world.noted[key] = noted
                world.scripts[key] = script
        if first is not None:
            raise failure_type(first.invariant, first.finding.kind)(first)

    def _pack(self) -> Any:
        return self._nova.objects

    # -- rules --------------------------------------------------------------------

    @initialize(skews=st.tuples(*[st.sampled_from(SKEWS)] * len(HOSTS)))
    def clocks(self, skews: tuple[int, ...]) -> None:
        """Each compute host's clock skew, in seconds off the API's clock."""
        self._step(f"state.clocks(skews={skews!r})")
        self.skews = list(skews)

    @rule(target=requests, server=st.integers(0, SERVERS - 1), action=st.sampled_from(ACTIONS))
    def request(self, server: int, action: str) -> int:
        """An API request of the server's project starts an action."""
        self._step(
            f"requests_{len(self.reqs)} = state.request(action={action!r}, server={server!r})"
        )
        self._at(None)
        s = self.servers[server]
        req = _Request(len(self.reqs), server, None, self._request_id())
        req.context = self._context(s, req.request_id)
        values = self._pack().InstanceAction.pack_action_start(req.context, s.uuid, action)
        self.last_step = f"request #{req.index} on server {server}"
        self._call(
            f"action_start of request #{req.index}",
            lambda: self.history.action_start(req.context, values),
        )
        self.reqs.append(req)
        self.changed[server].add(req.index)
        return req.index

    @rule(
        target=events,
        request=requests,
        host=st.integers(0, len(HOSTS) - 1),
        step=st.sampled_from(STEPS),
    )
    def start_event(self, request: int, host: int, step: str) -> int:
        """A compute host starts a step of the request (its context, the host's clock)."""
        self._step(
            f"events_{len(self.evs)} = state.start_event(host={host!r}, request={request!r}, "
            f"step={step!r})"
        )
        req = self.reqs[request]
        self._at(host)
        ev = _Event(len(self.evs), request, step, host)
        self.evs.append(ev)
        ev.row_id = self._start(req, ev)
        self.changed[req.server].add(request)
        return ev.index

    @rule(target=events, request=requests, host=st.integers(0, len(HOSTS) - 1))
    def retry_step(self, request: int, host: int) -> int:
        """The request's latest step is started again on ``host`` (a reschedule, or the
        other host of a migration): a second event of the same name."""
        self._step(f"events_{len(self.evs)} = state.retry_step(host={host!r}, request={request!r})")
        names = [ev.name for ev in self.evs if ev.request == request]
        req = self.reqs[request]
        self._at(host)
        ev = _Event(len(self.evs), request, names[-1] if names else STEPS[0], host)
        self.evs.append(ev)
        ev.row_id = self._start(req, ev)
        self.changed[req.server].add(request)
        return ev.index

    def _start(self, req: _Request, ev: _Event) -> int:
        s = self.servers[req.server]
        values = self._pack().InstanceActionEvent.pack_action_event_start(
            req.context, s.uuid, ev.name, host=HOSTS[ev.host]
        )
        self.last_step = (
            f"event #{ev.index} started on {HOSTS[ev.host]} ({self.skews[ev.host]:+d} s)"
        )
        row_id: int = self._call(
            f"action_event_start of event #{ev.index}",
            lambda: self.history.event_start(req.context, values),
        )
        return row_id

    def _finish_values(self, ev: _Event, failed: bool) -> dict[str, Any]:
        req = self.reqs[ev.request]
        s = self.servers[req.server]
        pack = self._pack().InstanceActionEvent.pack_action_event_finish
        if not failed:
            values: dict[str, Any] = pack(req.context, s.uuid, ev.name)
        else:
            # what serialize_args hands over RPC for a failure: its message, and the
            # traceback formatted to text
            message = f"step {ev.name} of event #{ev.index} failed on {HOSTS[ev.host]}"
            trace = f'Traceback (most recent call last):\n  File "{HOSTS[ev.host]}", line 1\n'
            values = pack(req.context, s.uuid, ev.name, exc_val=message, exc_tb=trace)
        return values

    def _record(self, ev: _Event, values: dict[str, Any]) -> None:
        ev.finished = True
        ev.result = values.get("result")
        ev.details = values.get("details")
        self.changed[self.reqs[ev.request].server].add(ev.request)

    @rule(event=consumes(events), failed=st.booleans())
    def finish_event(self, event: int, failed: bool) -> None:
        """The host that started the event finishes it, succeeding or failing."""
        self._step(f"state.finish_event(event={event!r}, failed={failed!r})")
        ev = self.evs[event]
        self._at(ev.host)
        values = self._finish_values(ev, failed)
        req = self.reqs[ev.request]
        self.last_step = (
            f"event #{ev.index} finished on {HOSTS[ev.host]} ({self.skews[ev.host]:+d} s)"
        )
        row = ev.row_id if ev.row_id is not None else -1
        self._call(
            f"action_event_finish of event #{ev.index}",
            lambda: self.history.event_finish(req.context, values, row),
        )
        self._record(ev, values)

    @rule(first=consumes(events), second=consumes(events), failed=st.booleans())
    def finish_together(self, first: int, second: int, failed: bool) -> None:
        """Two events finish at one instant (the first one's host clock), the first
        failing or not: from two threads with their own sessions on a server database."""
        self._step(f"state.finish_together(failed={failed!r}, first={first!r}, second={second!r})")
        a, b = self.evs[first], self.evs[second]
        self._at(a.host)
        work = [(a, self._finish_values(a, failed)), (b, self._finish_values(b, False))]
        self.last_step = f"events #{a.index} and #{b.index} finished together"
        errors: list[tuple[_Event, BaseException]] = []

        def finish(ev: _Event, values: dict[str, Any], context: Any, gate: Any) -> None:
            if gate is not None:
                gate.wait()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self.history.event_finish(context, values, ev.row_id or -1)
            except (Exception, StoreUnavailable) as exc:  # raised again below, in order
                errors.append((ev, exc))

        if self.world.concurrent:
            gate = threading.Barrier(len(work))
            threads = [
                threading.Thread(
                    target=finish,
                    args=(ev, values, self._copy(self.reqs[ev.request].context), gate),
                )
                for ev, values in work
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            for ev, values in work:
                finish(ev, values, self.reqs[ev.request].context, None)
        failed_events = {id(ev) for ev, _ in errors}
        for ev, values in work:
            if id(ev) not in failed_events:
                self._record(ev, values)
        if errors:
            from pytest_actionsec.store import _db_message, connection_fault, unavailable

            for _, exc in errors:
                if isinstance(exc, StoreUnavailable):
                    raise exc
                if connection_fault(exc):  # the environment's fault: no finding
                    raise unavailable(exc) from None

            self._raise(
                [
                    Noted(
                        REFUSED,
                        "store",
                        Finding(
                            None,
                            f"action_event_finish of event #{ev.index} (together with another) "
                            f"raised {type(exc).__name__}: {_db_message(exc)}",
                            kind=type(exc).__name__,
                        ),
                    )
                    for ev, exc in errors
                ]
            )

    def _copy(self, context: Any) -> Any:
        """The context for another thread: its own session (the same request)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._nova.context.RequestContext.from_dict(context.to_dict())

    @rule(
        request=requests,
        host=st.integers(0, len(HOSTS) - 1),
        step=st.sampled_from(STEPS),
        failed=st.booleans(),
    )
    def periodic_step(self, request: int, host: int, step: str, failed: bool) -> None:
        """A periodic task of a compute host (no project, a request id of its own) starts
        and finishes a step on the server of ``request``."""
        self._step(
            f"state.periodic_step(failed={failed!r}, host={host!r}, request={request!r}, "
            f"step={step!r})"
        )
        server = self.reqs[request].server
        req = _Request(len(self.reqs), server, None, self._request_id(periodic=True), periodic=True)
        req.context = self._context(None, req.request_id)
        self.reqs.append(req)
        self._at(host)
        ev = _Event(len(self.evs), req.index, step, host)
        self.evs.append(ev)
        ev.row_id = self._start(req, ev)
        self._at(host)
        values = self._finish_values(ev, failed)
        self.last_step = (
            f"periodic event #{ev.index} finished on {HOSTS[host]} ({self.skews[host]:+d} s)"
        )
        row = ev.row_id if ev.row_id is not None else -1
        self._call(
            f"action_event_finish of periodic event #{ev.index}",
            lambda: self.history.event_finish(req.context, values, row),
        )
        ev.finished, ev.result, ev.details = True, values.get("result"), values.get("details")

    @rule(request=requests)
    def finish_action(self, request: int) -> None:
        """The request's action finishes (the API's clock)."""
        self._step(f"state.finish_action(request={request!r})")
        req = self.reqs[request]
        self._at(None)
        s = self.servers[req.server]
        values = self._pack().InstanceAction.pack_action_finish(req.context, s.uuid)
        self.last_step = f"request #{request}'s action finished"
        self._call(
            f"action_finish of request #{request}",
            lambda: self.history.action_finish(req.context, values),
        )
        self.changed[req.server].add(request)

    @rule(seconds=st.sampled_from((30, 600)))
    def wait(self, seconds: int) -> None:
        """Time passes."""
        self._step(f"state.wait(seconds={seconds!r})")
        self.now += _dt.timedelta(seconds=seconds)

    @rule(server=st.integers(0, SERVERS - 1))
    def poll(self, server: int) -> None:
        """A member of the server's project polls its history through nova's API
        (``index`` with ``changes-since`` from the newest ``updated_at`` seen, at 2.58),
        then reads each action listed (``show``, newest microversion)."""
        self._step(f"state.poll(server={server!r})")
        self._at(None)
        s = self.servers[server]
        since = self.watermark[server]
        listed = self._call("index", lambda: reading.index(self.history, s, changes_since=since))
        found: list[Noted] = []
        by_id = {r.request_id: r for r in self.reqs}
        names = {req.request_id for req in self.reqs if req.server == server}
        for action in listed:
            rid = action.get("request_id")
            if (
                rid not in names
                or action.get("instance_uuid") != s.uuid
                or action.get("project_id") not in (s.project_id, None)
            ):
                other = by_id.get(rid)
                whose = f"request #{other.index} of server {other.server}" if other else repr(rid)
                found.append(
                    Noted(
                        PROJECT_ISOLATION,
                        "api",
                        Finding(
                            "instanceActions",
                            f"server {server}'s history, read by a member of its project, "
                            f"lists the action of {whose} (project {action.get('project_id')!r})",
                            kind="index",
                        ),
                    )
                )
        seen = {a.get("request_id") for a in listed}
        for index in sorted(self.changed[server]):
            req = self.reqs[index]
            if req.request_id not in seen:
                found.append(
                    Noted(
                        MONOTONE,
                        "api",
                        Finding(
                            "updated_at",
                            f"a poller of server {server} asking changes-since={since} "
                            f"(the newest updated_at it saw) misses the change of request "
                            f"#{index}'s action",
                            kind="missed",
                        ),
                    )
                )
        stamps = [a["updated_at"] for a in listed if a.get("updated_at")]
        if stamps:
            newest = max(stamps)
            if since is None or newest > since:
                self.watermark[server] = newest
        self.changed[server] = set()
        for action in listed:
            rid = action.get("request_id")
            if rid in names:
                shown = self._call("show", functools.partial(reading.show, self.history, s, rid))
                if shown.get("request_id") != rid or shown.get("instance_uuid") != s.uuid:
                    found.append(
                        Noted(
                            PROJECT_ISOLATION,
                            "api",
                            Finding(
                                "instanceAction",
                                f"show of request {rid} on server {server} gave request "
                                f"{shown.get('request_id')!r} of server "
                                f"{shown.get('instance_uuid')!r}",
                                kind="show",
                            ),
                        )
                    )
        self._raise(found)

    # -- the invariants -------------------------------------------------------------

    def _truth(self) -> _Truth:
        """The history as the database holds it (read directly from nova's tables)."""
        import sqlalchemy as sa

        tables = self.world.store._tables
        a, e = tables["instance_actions"], tables["instance_actions_events"]
        uuids = [s.uuid for s in self.servers]
        with self.world.store._engine().connect() as conn:
            actions = [
                dict(r)
                for r in conn.execute(
                    sa.select(a).where(a.c.instance_uuid.in_(uuids)).order_by(a.c.id)
                ).mappings()
            ]
            ids = [r["id"] for r in actions]
            events = (
                [
                    dict(r)
                    for r in conn.execute(
                        sa.select(e).where(e.c.action_id.in_(ids)).order_by(e.c.id)
                    ).mappings()
                ]
                if ids
                else []
            )
        return _Truth(actions, events)

    @invariant()
    def history_holds(self) -> None:
        """Judge the history in the database against the ledger after every step."""
        self.script.append("state.history_holds()")  # a replay judges where this run did
        truth = self._truth()
        found = [
            *self._recorded_once(truth),
            *self._own_request(truth),
            *self._monotone(truth),
        ]
        self._raise(found)

    def _describe(self, ev: _Event) -> str:
        req = self.reqs[ev.request]
        who = "periodic request" if req.periodic else "request"
        return f"event #{ev.index} ({ev.name} of {who} #{req.index} on {HOSTS[ev.host]})"

    def _recorded_once(self, truth: _Truth) -> Iterator[Noted]:
        rows = {r["id"]: r for r in truth.events}
        for ev in self.evs:
            if ev.row_id is None:
                continue
            row = rows.get(ev.row_id)
            what = self._describe(ev)
            evidence = ""
            if row is None:
                evidence = f"{what} has no row"
            elif ev.finished and row["finish_time"] is None:
                evidence = (
                    f"the finish of {what} (result {ev.result}) is not on its row: the row "
                    f"is unfinished"
                )
            elif not ev.finished and row["finish_time"] is not None:
                evidence = (
                    f"the row of {what}, never finished, was finished by another event's "
                    f"finish (result {row['result']})"
                )
            elif ev.finished and (row["result"], row["details"]) != (ev.result, ev.details):
                evidence = (
                    f"the row of {what} holds result {row['result']} "
                    f"({row['details']!r}) instead of its own {ev.result} ({ev.details!r}): "
                    f"overwritten by another event's finish"
                )
            if evidence:
                yield Noted(RECORDED_ONCE, "store", Finding("result", evidence, kind="lost"))
        by_request = {a["request_id"]: a for a in truth.actions}
        for req in self.reqs:
            action = by_request.get(req.request_id)
            failed = [ev for ev in self.evs if ev.request == req.index and ev.result == "Error"]
            if action is not None and failed and action["message"] != "Error":
                yield Noted(
                    RECORDED_ONCE,
                    "store",
                    Finding(
                        "message",
                        f"request #{req.index}'s action says {action['message']!r} though "
                        f"{self._describe(failed[0])} failed",
                        kind="message",
                    ),
                )

    def _own_request(self, truth: _Truth) -> Iterator[Noted]:
        actions = {a["id"]: a for a in truth.actions}
        requests = {r.request_id: r for r in self.reqs}
        with_action = {a["request_id"] for a in truth.actions}
        evs = {ev.row_id: ev for ev in self.evs if ev.row_id is not None}
        for row in truth.events:
            ev = evs.get(row["id"])
            action = actions.get(row["action_id"])
            if ev is None or action is None:
                continue
            req = self.reqs[ev.request]
            if req.request_id == action["request_id"]:
                continue
            owner = requests.get(action["request_id"])
            into = f"request #{owner.index}'s action" if owner else f"action {action['request_id']}"
            if req.periodic and req.request_id not in with_action and not req.context.project_id:
                yield Noted(
                    OWN_REQUEST,
                    "store",
                    Finding(
                        "action_id",
                        f"{self._describe(ev)} landed in {into}: {_RECOVERY}, which attaches "
                        f"an event of a context without a project to the server's newest "
                        f"action; {self._audience(owner, row)}",
                        kind="recovery-path",
                        blame=f"documented: {_RECOVERY}",
                    ),
                )
            else:
                yield Noted(
                    OWN_REQUEST,
                    "store",
                    Finding("action_id", f"{self._describe(ev)} landed in {into}", kind="attach"),
                )
        for action in truth.actions:
            owner = requests.get(action["request_id"])
            if owner is None or owner.periodic or action["message"] != "Error":
                continue
            own_failed = any(ev.request == owner.index and ev.result == "Error" for ev in self.evs)
            if own_failed:
                continue
            culprits = [
                ev
                for ev in self.evs
                if ev.result == "Error" and self.reqs[ev.request].server == owner.server
            ]
            by = (
                f" by another request's failed event (the latest: {self._describe(culprits[-1])})"
                if culprits
                else ""
            )
            yield Noted(
                OWN_REQUEST,
                "store",
                Finding(
                    "message",
                    f"request #{owner.index}'s action, none of whose events failed, is "
                    f"marked 'Error'{by}; a member of the server's project reads it "
                    f"(index and show)",
                    kind="message",
                ),
            )

    def _audience(self, owner: _Request | None, row: dict[str, Any]) -> str:
        """Who reads an attached event, asked of nova's API (show, newest microversion)
        once per run: nova's policy gives every attached event the same audience."""
        if owner is None:
            return "its audience is unknown"
        if self.world.audience is None:
            self.world.audience = self._ask_audience(owner, row)
        return self.world.audience

    def _ask_audience(self, owner: _Request, row: dict[str, Any]) -> str:
        s = self.servers[owner.server]
        shown = reading.show(self.history, s, owner.request_id, role="member")
        names = [(e.get("event"), e.get("result")) for e in shown.get("events", [])]
        if (row["event"], row["result"]) in names:
            return (
                "a member of the server's project reads it in that action (show, 2.51+: "
                "name, times, result; details and traceback to admins)"
            )
        return "a member of the server's project does not read it"

    def _monotone(self, truth: _Truth) -> Iterator[Noted]:
        requests = {r.request_id: r for r in self.reqs}
        for action in truth.actions:
            req = requests.get(action["request_id"])
            stamp = action["updated_at"]
            if req is None or stamp is None:
                continue
            before = self.seen_updated.get(req.request_id)
            if before is not None and stamp < before:
                yield Noted(
                    MONOTONE,
                    "store",
                    Finding(
                        "updated_at",
                        f"request #{req.index}'s action's updated_at moved back from "
                        f"{before.isoformat()} to {stamp.isoformat()} ({self.last_step})",
                        kind="regression",
                    ),
                )
            self.seen_updated[req.request_id] = stamp


@contextlib.contextmanager
def environment_faults() -> Iterator[None]:
    """A lost database connection in the block raises
    :class:`~pytest_actionsec.store.StoreUnavailable`: the environment's fault, which
    ends the run at once (Hypothesis neither shrinks nor retries a BaseException),
    never an error the machine judges."""
    from pytest_actionsec.store import connection_fault, unavailable

    try:
        yield
    except Exception as exc:
        if connection_fault(exc):
            raise unavailable(exc) from None
        raise


class _EnvironmentFaults:
    """The history store seen by the machine: each call under
    :func:`environment_faults`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            with environment_faults():
                return value(*args, **kwargs)

        return call
