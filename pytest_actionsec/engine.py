"""Run the built-in properties: execute drawn calls and judge them with the oracle.

A :class:`Property` is one invariant family checked on one helper at one layer
(``packer``: the helper called directly; ``boundary``: through the RPC
decorator ``serialize_args``; ``store``: through nova's database API, see
:mod:`pytest_actionsec.store`). :func:`run_property` runs it as a real
Hypothesis test and returns a :class:`PropertyResult` with the smallest input
found for each distinct violation.
"""

from __future__ import annotations

import contextlib
import copyreg
import datetime as _dt
import functools
import hashlib
import logging
import os
import signal
import sys
import threading
import time
import unittest
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found]

from pytest_actionsec.canaries import seeded_canaries
from pytest_actionsec.constants import DEFAULT_TIMEOUT, LAYERS
from pytest_actionsec.locations import raise_site
from pytest_actionsec.oracle import (
    CONTEXT_ATTRS,
    FAMILIES,
    MISSING,
    Observation,
    Violation,
    family_rank,
    judge,
)
from pytest_actionsec.snippets import call_source, with_families
from pytest_actionsec.specs import spec_bytes as _bytes_in_spec
from pytest_actionsec.strategies import Call, ExcSpec, calls, probes
from pytest_actionsec.targets import FACTS, FUNCTIONS, POSITIONAL_PARAMS, Target

__all__ = [
    "ALL_LAYERS",
    "Group",
    "GroupResult",
    "ListHandler",
    "Property",
    "PropertyResult",
    "adopt_hypofuzz_failures",
    "builtin_groups",
    "builtin_properties",
    "capture_logs",
    "execute",
    "fuzz_test_name",
    "group_database",
    "group_test",
    "keyed_database",
    "observe",
    "run_group",
    "run_property",
    "time_limit",
]

ALL_LAYERS: tuple[str, ...] = LAYERS
#: Layers whose calls are drawn as at the packer (they differ in what follows the call).
_PACKED_LAYERS = ("store", "api")
#: The engine's clock (seconds): budgets and run times are read from it. Kept in a
#: tuple so freezegun (which patches module attributes) leaves it real; a test
#: replaces the tuple to control time (the plugin's budget reads the same clock).
_REAL_CLOCK: tuple[Callable[[], float]] = (time.perf_counter,)


class ClockLike(Protocol):
    """What the engine needs of a server clock."""

    def move_to(self, when: _dt.datetime) -> None: ...

    def now(self) -> _dt.datetime: ...


@dataclass(frozen=True)
class Property:
    """One invariant family, checked on one helper at one layer."""

    family: str
    function: str
    layer: str

    @property
    def id(self) -> str:
        """Stable id, also the pytest item's parameter (``leak-pack_action_start-packer``)."""
        return f"{self.family}-{self.function}-{self.layer}"

    @property
    def group(self) -> Group:
        """The run that judges this property (with the other families of its helper and layer)."""
        return Group(self.function, self.layer)


@dataclass(frozen=True)
class Group:
    """One helper at one layer: one Hypothesis run judges every selected family on it."""

    function: str
    layer: str

    @property
    def id(self) -> str:
        """Stable id (``pack_action_start-packer``); ``-k`` with it selects every family."""
        return f"{self.function}-{self.layer}"


@dataclass
class PropertyResult:
    """What one run of one property found."""

    property: Property
    status: str  # passed | failed | skipped
    examples: int = 0
    violations: list[Violation] = field(default_factory=list)
    reason: str = ""
    seed: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report's ``properties`` entry."""
        return {
            "id": self.property.id,
            "family": self.property.family,
            "function": self.property.function,
            "layer": self.property.layer,
            "examples": self.examples,
            "status": self.status,
            "reason": self.reason,
        }


def builtin_groups(layers: Sequence[str] = ("packer", "boundary")) -> list[Group]:
    """Every helper and sink at every layer it applies to (the boundary wraps event
    finish only)."""
    return [
        Group(function, layer)
        for layer in layers
        for function in FUNCTIONS
        if layer != "boundary" or function == "pack_action_event_finish"
    ]


def builtin_properties(
    layers: Sequence[str] = ("packer", "boundary"),
    families: Sequence[str] | None = None,
) -> list[Property]:
    """The built-in suite: every family (a fork's own too) on every group of ``layers``."""
    chosen = tuple(FAMILIES) if families is None else tuple(families)
    return [
        Property(family, group.function, group.layer)
        for group in builtin_groups(layers)
        for family in chosen
    ]


# ---------------------------------------------------------------------------
# Execution of one call.


class _TimedOut(BaseException):
    """Raised by the alarm inside a helper that does not return in time."""


@contextlib.contextmanager
def time_limit(
    seconds: float | None,
) -> Iterator[Callable[[], contextlib.AbstractContextManager[None]]]:
    """Install a SIGALRM handler for the block; yields a per-call ``arm()`` context.

    Without a main thread or SIGALRM (Windows, worker threads) calls are not limited.
    """
    if seconds is None or seconds <= 0:
        yield contextlib.nullcontext
        return
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield contextlib.nullcontext
        return
    limit: float = seconds
    # The alarm repeats: a _TimedOut raised inside a gc callback, a __del__ or a bare
    # ``except:`` of the helper is swallowed, and a one-shot alarm would then be lost.
    again = min(max(limit / 10, 0.01), 1.0)
    armed = [False]

    def _alarm(signum: int, frame: Any) -> None:
        if armed[0]:
            raise _TimedOut()

    previous = signal.signal(signal.SIGALRM, _alarm)

    @contextlib.contextmanager
    def arm() -> Iterator[None]:
        armed[0] = True
        signal.setitimer(signal.ITIMER_REAL, limit, again)
        try:
            yield
        finally:
            try:
                armed[0] = False
            finally:  # also when the alarm fired just before the line above
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)

    try:
        yield arm
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class ListHandler(logging.Handler):
    """A logging handler that keeps every record as text in :attr:`lines`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._fmt = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [record.getMessage()]
        except Exception:
            parts = [str(record.msg), repr(record.args)]
        if record.exc_info:
            with contextlib.suppress(Exception):
                parts.append(self._fmt.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
        self.lines.append("\n".join(parts))


@contextlib.contextmanager
def capture_logs() -> Iterator[list[str]]:
    """Capture every log record (all levels) emitted in the block as text lines.

    The handler sits on the root logger and on every existing logger that does
    not propagate, so records that never reach the root are seen too.
    """
    handler = ListHandler()
    root = logging.getLogger()
    old_level = root.level
    old_disable = logging.root.manager.disable
    islands = [
        lg
        for lg in list(logging.root.manager.loggerDict.values())
        if isinstance(lg, logging.Logger) and not lg.propagate
    ]
    root.addHandler(handler)
    for lg in islands:
        lg.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.disable(logging.NOTSET)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        for lg in islands:
            lg.removeHandler(handler)
        root.setLevel(old_level)
        logging.disable(old_disable)


_SCALARS = (str, bytes, int, float, bool, type(None), _dt.datetime, _dt.date)


def _fingerprint(value: Any, depth: int = 0) -> Any:
    if isinstance(value, _SCALARS):
        return (type(value), value)
    if depth >= 3:
        return ("obj", id(value))
    if isinstance(value, Mapping):
        return ("map", id(value), tuple((k, _fingerprint(v, depth + 1)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return ("seq", id(value), tuple(_fingerprint(v, depth + 1) for v in items))
    return ("obj", id(value))


def _snapshot(obj: Any, depth: int = 0) -> dict[str, Any]:
    state: dict[str, Any] = {}
    try:
        attrs = dict(vars(obj))
    except TypeError:
        attrs = {}
    for name, value in attrs.items():
        state[name] = _fingerprint(value, 1)
    if isinstance(obj, BaseException):
        state["args"] = _fingerprint(obj.args, 1)
        state["__traceback__"] = id(obj.__traceback__)
        for link in ("__cause__", "__context__"):
            sub = getattr(obj, link)
            state[link] = id(sub)
            if sub is not None and depth < 2:
                for k, v in _snapshot(sub, depth + 1).items():
                    state[f"{link}.{k}"] = v
    tb = getattr(obj, "tb_next", MISSING)
    if tb is not MISSING:
        chain: list[tuple[int, int]] = []
        node = obj
        while node is not None and len(chain) < 50:
            chain.append((id(node.tb_frame), node.tb_lineno))
            node = node.tb_next
        state["tb_chain"] = tuple(chain)
    return state


def _diff(label: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changed = [
        k for k in before.keys() | after.keys() if before.get(k, MISSING) != after.get(k, MISSING)
    ]
    if not changed:
        return []
    return [f"{label}: {', '.join(sorted(changed)[:6])} changed"]


# ---------------------------------------------------------------------------
# Process-global state around one call (the ``purity.globals`` invariant).

#: (module, attribute) bindings a helper must not rebind; modules not loaded are skipped.
WATCHED_BINDINGS: tuple[tuple[str, str], ...] = (
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "strftime"),
    ("oslo_utils.timeutils", "utcnow"),
)
_FREEZEGUN_STACKS = ("freeze_factories", "tz_offsets", "ignore_lists", "tick_flags")


@dataclass
class _Globals:
    """A cheap snapshot (a few microseconds) of state every later test shares."""

    environ: dict[Any, Any]
    cwd: str | None
    path: list[str]
    path_items: list[str]
    level: int
    handlers: list[logging.Handler]
    disable: int
    bindings: list[tuple[Any, str, Any]]
    freezes: int


def _freezegun_stacks() -> list[list[Any]]:
    api = sys.modules.get("freezegun.api")
    stacks = [getattr(api, name, None) for name in _FREEZEGUN_STACKS]
    return [s for s in stacks if isinstance(s, list)]


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def _globals_snapshot() -> _Globals:
    """Snapshot os.environ, cwd, sys.path, the root logger, clock bindings, freezegun."""
    data = getattr(os.environ, "_data", None)  # CPython's backing dict: copied in ~0.3 us
    root = logging.getLogger()
    stacks = _freezegun_stacks()
    return _Globals(
        environ=data.copy() if isinstance(data, dict) else dict(os.environ),
        cwd=_cwd(),
        path=sys.path,
        path_items=list(sys.path),
        level=root.level,
        handlers=list(root.handlers),
        disable=logging.root.manager.disable,
        bindings=[
            (mod, attr, getattr(mod, attr, MISSING))
            for mod, attr in ((sys.modules.get(m), a) for m, a in WATCHED_BINDINGS)
            if mod is not None
        ],
        freezes=len(stacks[0]) if stacks else 0,
    )


def _names(items: Any) -> str:
    text = ", ".join(sorted(k if isinstance(k, str) else os.fsdecode(k) for k in items))
    return text if len(text) <= 200 else text[:197] + "..."


_FREEZEGUN_FAKES = (
    ("FakeDatetime", "real_datetime"),
    ("FakeDate", "real_date"),
    ("fake_time", "real_time"),
    ("fake_monotonic", "real_monotonic"),
    ("fake_perf_counter", "real_perf_counter"),
    ("fake_localtime", "real_localtime"),
    ("fake_gmtime", "real_gmtime"),
    ("fake_strftime", "real_strftime"),
)


def _unfreeze_modules(api: Any) -> None:
    """Undo what a freeze nobody will stop patched: every module's fakes (~15 ms, rare)."""
    reals = {
        id(getattr(api, fake)): getattr(api, real)
        for fake, real in _FREEZEGUN_FAKES
        if hasattr(api, fake) and hasattr(api, real)
    }
    for real_name in ("real_datetime", "real_date"):
        copyreg.dispatch_table.pop(getattr(api, real_name, None), None)  # type: ignore[arg-type]
    for name, module in list(sys.modules.items()):
        if name.startswith("freezegun") or module is None:
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            real = reals.get(id(value))
            if real is not None:
                with contextlib.suppress(Exception):
                    setattr(module, attr, real)


def _globals_restore(before: _Globals) -> list[str]:
    """Put back what changed since ``before``; one line per change (names, never values)."""
    now = _globals_snapshot()
    out: list[str] = []
    if now.environ != before.environ:
        added = now.environ.keys() - before.environ.keys()
        removed = before.environ.keys() - now.environ.keys()
        common = now.environ.keys() & before.environ.keys()
        changed = {k for k in common if now.environ[k] != before.environ[k]}
        parts = [
            f"{w} {_names(ks)}"
            for w, ks in (("set", added), ("removed", removed), ("changed", changed))
            if ks
        ]
        out.append(f"os.environ: {'; '.join(parts)}")
        for key in added:
            os.environ.pop(key if isinstance(key, str) else os.fsdecode(key), None)
        for key in removed | changed:
            value = before.environ[key]
            os.environ[key if isinstance(key, str) else os.fsdecode(key)] = (
                value if isinstance(value, str) else os.fsdecode(value)
            )
    if now.cwd != before.cwd:
        out.append(f"cwd: {before.cwd!r} -> {now.cwd!r}")
        try:
            os.chdir(before.cwd)  # type: ignore[arg-type]
        except (OSError, TypeError):
            out[-1] += " (not restorable)"
    if now.path is not before.path or now.path_items != before.path_items:
        added_p = [p for p in now.path_items if p not in before.path_items]
        removed_p = [p for p in before.path_items if p not in now.path_items]
        what = "rebound" if now.path is not before.path else "changed"
        out.append(f"sys.path {what}: added {added_p!r}, removed {removed_p!r}"[:300])
        sys.path = before.path
        sys.path[:] = before.path_items
    root = logging.getLogger()
    if now.level != before.level:
        out.append(
            f"root logger level: {logging.getLevelName(before.level)} -> "
            f"{logging.getLevelName(now.level)}"
        )
        root.setLevel(before.level)
    if now.handlers != before.handlers:
        added_h = [type(h).__name__ for h in now.handlers if h not in before.handlers]
        removed_h = [type(h).__name__ for h in before.handlers if h not in now.handlers]
        out.append(f"root logger handlers: added {added_h}, removed {removed_h}")
        root.handlers[:] = before.handlers
    if now.disable != before.disable:
        out.append(f"logging.disable: {before.disable} -> {now.disable}")
        logging.disable(before.disable)
    if now.freezes != before.freezes:
        if now.freezes > before.freezes:
            out.append(
                f"freezegun: {now.freezes - before.freezes} freeze(s) started and not stopped "
                "(the clock was left frozen)"
            )
            for stack in _freezegun_stacks():
                del stack[before.freezes :]
            if before.freezes == 0:
                _unfreeze_modules(sys.modules["freezegun.api"])
        else:
            out.append(
                f"freezegun: stopped {before.freezes - now.freezes} freeze(s) of the caller "
                "(not restorable)"
            )
    for mod, attr, value in before.bindings:
        current = getattr(mod, attr, MISSING)
        if current is not value:
            shown = getattr(current, "__qualname__", type(current).__name__)
            out.append(f"{mod.__name__}.{attr} rebound to {shown}")
            if value is MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(mod, attr)
            else:
                setattr(mod, attr, value)
    return out


def observe(
    target: Target,
    function: str,
    layer: str,
    context: Any,
    arguments: Mapping[str, Any],
    *,
    positional: bool = False,
    invoke: Callable[..., Any] | None = None,
    window: Callable[[], tuple[_dt.datetime, _dt.datetime]] | None = None,
    logs: list[str] | None = None,
    arm: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    timeout: float | None = None,
    watch_inputs: bool = True,
) -> Observation:
    """Call one helper on ready-made inputs and return what the oracle needs.

    ``arguments`` maps parameter names (``instance_uuid``, ``action_name``,
    ``event_name``, ``host``, ``exc_val``, ``exc_tb``) to values. With
    ``watch_inputs`` False the inputs are not snapshotted, so ``purity.inputs``
    cannot be judged (global state is always snapshotted and restored).
    """
    sources = {name: getattr(context, name, MISSING) for name in CONTEXT_ATTRS}
    watched = [("context", context)] + [
        (name, value)
        for name, value in arguments.items()
        if not isinstance(value, _SCALARS) and not isinstance(value, (list, dict))
    ]
    if not watch_inputs:
        watched = []
    before = [(label, _snapshot(obj)) for label, obj in watched]
    args = [context]
    kwargs: dict[str, Any] = {}
    for name, value in arguments.items():
        if name in POSITIONAL_PARAMS or positional:
            args.append(value)
        else:
            kwargs[name] = value
    if invoke is None:
        if layer == "boundary":
            boundary = target.boundary_call()
            if boundary is None:
                raise ValueError("target has no boundary (serialize_args)")
            invoke = boundary
        else:
            invoke = target.helpers[function]
    record: Any = None
    error: BaseException | None = None
    timed_out: float | None = None
    if logs is not None:
        logs.clear()
    lo = hi = None
    if window is None:
        lo = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    state = _globals_snapshot()
    try:
        with arm():
            record = invoke(*args, **kwargs)
    except _TimedOut:
        timed_out = timeout or 0.0
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and other BaseExceptions are crashes too
        error = exc
    globals_changed = _globals_restore(state)
    if window is None:
        hi = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        assert lo is not None
        span = (lo - _dt.timedelta(microseconds=1), hi + _dt.timedelta(microseconds=1))
    else:
        span = window()
    impurities: list[str] = []
    for (label, obj), (_, snap) in zip(watched, before, strict=True):
        impurities.extend(_diff(label, snap, _snapshot(obj)))
    site = None
    if error is not None:
        # where it was raised, taken now: the traceback (its frames hold every local of
        # the call) is dropped so that a kept observation does not keep them alive
        site = raise_site(error, target.packages(function))
        _drop_tracebacks(error, keep={id(v) for v in arguments.values()})
    full_args = dict(arguments)
    for name in FACTS[function].keywords:
        full_args.setdefault(name, None)
    return Observation(
        function=function,
        layer=layer,
        record=record,
        error=error,
        sources=sources,
        arguments=full_args,
        server_window=span,
        logs=tuple(logs or ()),
        impurities=tuple(impurities),
        globals_changed=tuple(globals_changed),
        schemas=target.schemas,
        trusted=target.trusted,
        timed_out=timed_out,
        raise_site=site,
    )


def _drop_tracebacks(error: BaseException, keep: set[int]) -> None:
    """Clear the tracebacks of ``error`` and of the exceptions chained to it, except
    those of the caller's own inputs (ids in ``keep``)."""
    seen = set(keep)
    todo: list[BaseException | None] = [error]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        exc.__traceback__ = None
        todo += [exc.__cause__, exc.__context__]


def _builds_trusted(value: Any) -> bool:
    """True when ``value`` is an exception spec with a trusted class anywhere in its chain."""
    if not isinstance(value, ExcSpec):
        return False
    return value.trusted or _builds_trusted(value.cause) or _builds_trusted(value.context)


def execute(
    target: Target,
    call: Call,
    *,
    clock: ClockLike | None = None,
    logs: list[str] | None = None,
    arm: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    timeout: float | None = None,
    invoke: Callable[..., Any] | None = None,
    watch_inputs: bool = True,
) -> Observation:
    """Build ``call``'s inputs afresh, run it, and return the observation.

    ``watch_inputs`` False skips the input snapshots ``purity.inputs`` needs.
    """
    if clock is not None:
        clock.move_to(call.server_time)
    # Building a trusted exception may log (NovaException logs kwargs it cannot
    # format): that is the caller's doing, not the helper's, so keep it out of every
    # log. Only then: logging.disable() clears every logger's cache (nova has
    # hundreds), which cost about 8% of an example.
    if any(_builds_trusted(value) for _, value in call.arguments):
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            context, arguments = call.build(target)
        finally:
            logging.disable(previous)
    else:
        context, arguments = call.build(target)
    window = None
    if clock is not None:
        now = clock.now()
        window = lambda: (now, now)  # noqa: E731
    obs = observe(
        target,
        call.function,
        call.layer if invoke is None else "store",
        context,
        arguments,
        positional=call.positional,
        invoke=invoke,
        window=window,
        logs=logs,
        arm=arm,
        timeout=timeout,
        watch_inputs=watch_inputs,
    )
    obs.canaries = call.canaries
    obs.hostile = call.hostile
    bytes_inputs = [b for _, v in call.arguments for b in _bytes_in_spec(v)]
    obs.bytes_inputs = tuple(bytes_inputs)
    obs.describe_input = functools.partial(
        call_source, call, target, layer=call.layer, timeout=timeout
    )
    if invoke is not None:
        obs.layer = "store"
    return obs


# ---------------------------------------------------------------------------
# A whole property as a Hypothesis test.


class _Found(Exception):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(violations[0].invariant)
        self.violations = violations


class _DeadlinePassed(BaseException):
    """Cuts a round at its run's deadline: Hypothesis does not catch it (no failure to
    shrink), and the findings judged so far stay in the run's collector."""


class _Hung(BaseException):
    """Ends a property at its first hung call: Hypothesis does not catch it, so a hang
    is neither shrunk nor retried (each attempt would cost a whole time limit)."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("a call did not return in time")
        self.violations = violations


@cache
def _found_type(key: tuple[Any, ...]) -> type[_Found]:
    """One exception class per violation key, so Hypothesis shrinks each finding apart."""
    return type("ActionsecViolation", (_Found,), {"key": key})


def _flatten(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for sub in error.exceptions:
            yield from _flatten(sub)
    else:
        yield error


@dataclass
class _Collector:
    examples: int = 0
    best: dict[tuple[Any, ...], tuple[int, Violation]] = field(default_factory=dict)

    def add(self, violations: list[Violation], size: int) -> None:
        for v in violations:
            key = v.key()
            old = self.best.get(key)
            if old is None or size < old[0]:
                self.best[key] = (size, v)


def keyed_database(inner: Any, prefix: bytes, *, adopt: Sequence[bytes] = ()) -> Any:
    """A Hypothesis example database seen through a key prefix (public database API only).

    Every run checks the same inner function, so Hypothesis would give every
    helper, layer, target and mode one key; the prefix keeps their examples apart.
    ``adopt``: saved examples (choice sequences) found elsewhere, saved under the
    first key fetched (the test's own key: Hypothesis replays it first).
    """
    from hypothesis.database import ExampleDatabase

    pending = list(adopt)

    class KeyedDatabase(ExampleDatabase):
        def __repr__(self) -> str:
            return f"KeyedDatabase({inner!r}, {prefix.hex()[:12]})"

        def save(self, key: bytes, value: bytes) -> None:
            inner.save(prefix + key, value)

        def fetch(self, key: bytes) -> Any:
            while pending:
                inner.save(prefix + key, pending.pop())
            return inner.fetch(prefix + key)

        def delete(self, key: bytes, value: bytes) -> None:
            inner.delete(prefix + key, value)

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            inner.move(prefix + src, prefix + dest, value)

    return KeyedDatabase()


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()[:16]


@dataclass
class GroupResult:
    """What one run of one helper at one layer found, for every family it judged."""

    group: Group
    families: tuple[str, ...]
    status: str  # passed | failed | skipped
    examples: int = 0
    violations: list[Violation] = field(default_factory=list)
    reason: str = ""
    seed: int | None = None
    seconds: float = 0.0

    def for_family(self, family: str) -> PropertyResult:
        """This run's verdict on one family, as a :class:`PropertyResult`.

        A ``crash.timeout`` ends the run before anything was judged, so every
        family reports it (none of them was checked).
        """
        found = [v for v in self.violations if v.family == family or v.invariant == "crash.timeout"]
        status = self.status
        if status != "skipped":
            status = "failed" if [v for v in found if not v.blame] else "passed"
        return PropertyResult(
            Property(family, self.group.function, self.group.layer),
            status,
            examples=self.examples,
            violations=found,
            reason=self.reason,
            seed=self.seed,
            seconds=self.seconds,
        )


def _first(found: list[Violation]) -> Violation:
    """The violation an example is shrunk for: the first family, then the smallest key."""
    return min(found, key=lambda v: (family_rank(v.family), v.key()))


#: Extra Hypothesis rounds a run may take after one ended early on a new finding.
TOP_UP_ROUNDS = 2


def _search_round(
    check: Callable[[Call], None],
    drawn: Any,
    config: Any,
    seed: int | None,
    final: list[Violation],
) -> str:
    """One Hypothesis run of ``check``; shrunk violations go to ``final``; returns a note."""
    from hypothesis import given
    from hypothesis import seed as hseed
    from hypothesis.errors import Flaky
    from hypothesis.reporting import with_reporter

    wrap: Any = given(drawn)
    test: Any = wrap(check)
    if seed is not None:
        # @seed turns the database off unless settings are applied after it: the
        # seed fixes what is generated, and saved failures are still replayed first.
        test = hseed(seed)(test)
    test = config(test)
    note = ""
    try:
        with with_reporter(lambda _msg: None), warnings.catch_warnings():
            # A failing example holding 64 KiB of traceback text makes Hypothesis
            # warn about its repr; under -W error that would hide the verdict.
            warnings.filterwarnings("ignore", message="Generating overly large repr")
            test()
    except (_Found, BaseExceptionGroup) as raised:
        for error in _flatten(raised):
            if isinstance(error, _Found):
                # shrunk for its own key; its other violations keep their smallest
                origin = getattr(error, "key", None)
                final.extend(v for v in error.violations if v.key() == origin)
            elif isinstance(error, Flaky):
                note = f"flaky: {type(error).__name__}"
            elif not isinstance(error, _DeadlinePassed):  # cut while replaying: kept
                raise
    except Flaky as flaky:
        note = f"flaky: {type(flaky).__name__}"
    except _DeadlinePassed:
        pass  # the run's deadline: what was judged so far is in the collector
    return note


@dataclass
class _Search:
    """What one group's check shares with the rounds of its run."""

    run_one: Callable[[Call], Observation]
    judged: frozenset[str]
    collector: _Collector
    known: set[tuple[Any, ...]] = field(default_factory=set)
    fresh_keys: set[tuple[Any, ...]] = field(default_factory=set)
    round_calls: int = 0
    first_raise: int | None = None
    #: on the engine's clock: a call starting after it ends the round (not counted)
    deadline: float | None = None


def _make_check(search: _Search, group: Group) -> Callable[[Call], None]:
    """The one function Hypothesis tests for a group (its database key is this source)."""

    def check(call: Call) -> None:
        if search.deadline is not None and _REAL_CLOCK[0]() >= search.deadline:
            raise _DeadlinePassed
        obs = search.run_one(call)
        # the printed input judges the families this run judges
        obs.describe_input = with_families(obs.describe_input, search.judged)
        search.collector.examples += 1
        search.round_calls += 1
        if obs.timed_out is not None:  # reported whatever is judged, never shrunk
            raise _Hung(judge(obs, search.judged | {"crash"}, only=("crash.timeout",)))
        found = judge(obs, search.judged)
        if found:
            search.collector.add(found, call.size())
            fresh = [v for v in found if v.key() not in search.known and not v.blame]
            if fresh:
                search.fresh_keys.update(v.key() for v in fresh)
                if search.first_raise is None:
                    search.first_raise = search.round_calls
                raise _found_type(_first(fresh).key())(found)

    check.__name__ = f"actionsec_{group.id.replace('-', '_')}"
    return check


def _round_settings(
    parent: Any, max_examples: int, database: Any, *, reuse: bool = True, generate: bool = True
) -> Any:
    """The settings of every round of a group's run (and of :func:`group_test`).

    ``reuse`` False: saved examples are not replayed (failures are still saved);
    ``generate`` False: only saved examples run.
    """
    from hypothesis import HealthCheck, Phase, settings

    dropped = {Phase.explain}
    if not reuse:
        dropped.add(Phase.reuse)
    if not generate:
        dropped.update((Phase.explicit, Phase.generate, Phase.target))
    return settings(
        parent,
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=True,
        print_blob=False,
        derandomize=False,
        # The explain phase re-runs a failing example many times to annotate its
        # printout, which run_group discards: it made failing runs 30-47x slower.
        phases=[p for p in settings().phases if p not in dropped],
        database=database,
    )


def group_database(
    inner: Any,
    group: Group,
    target_path: str,
    mode: str,
    round_no: int = 0,
    *,
    adopt: Sequence[bytes] = (),
) -> Any:
    """The example database one round of a group's run sees: ``inner`` through its key.

    :func:`run_group` (every round, ``round_no`` 0) and :func:`group_test` use the
    same one, so what either saves the other replays. None when ``inner`` is None.
    """
    if inner is None:
        return None
    key = _digest(group.id, target_path, mode)
    return keyed_database(inner, key + round_no.to_bytes(4, "big"), adopt=adopt)


def fuzz_test_name(group: Group, target_path: str, mode: str) -> str:
    """The name of the fuzz module's test for a group (``pytest_actionsec.fuzz``)."""
    return f"test_{group.id}_{mode}_{target_path}".replace("-", "_").replace(".", "_")


#: Keys HypoFuzz writes in the shared example database (its own layout, read only
#: here): the list of its tests' keys, and each test's reports (JSON, with the nodeid).
_HYPOFUZZ_KEYS = b"hypofuzz.test_keys"
_HYPOFUZZ_REPORTS = b".hypofuzz.reports"
_HYPOFUZZ_FAILURES = (b"", b".secondary")  # shrunk, then unshrunk failing choices


def adopt_hypofuzz_failures(
    database: Any, group: Group, target_path: str, mode: str
) -> list[bytes]:
    """Failing examples a HypoFuzz campaign saved for this group's fuzz test.

    HypoFuzz keys a test by its pytest node id, which no run outside pytest can
    reproduce with Hypothesis's public API; it also lists its tests' keys and
    writes reports naming their node ids in the same database. Those are read
    here (one fetch when HypoFuzz never ran), so :func:`run_group` replays what the
    campaign found first. Never imports HypoFuzz.
    """
    import json

    wanted = fuzz_test_name(group, target_path, mode)
    found: list[bytes] = []
    try:
        keys = list(database.fetch(_HYPOFUZZ_KEYS))
    except Exception:  # a database that cannot list: nothing to adopt
        return found
    for key in keys:
        names = set()
        for raw in database.fetch(key + _HYPOFUZZ_REPORTS):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                names.add(str(json.loads(raw).get("nodeid", "")).rsplit("::", 1)[-1])
            if names:
                break
        if wanted in names:
            for suffix in _HYPOFUZZ_FAILURES:
                found.extend(database.fetch(key + suffix))
    return found


def group_test(
    group: Group,
    target: Target,
    *,
    mode: str = "contract",
    families: Sequence[str] | None = None,
    clock: ClockLike | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    store: Any = None,
    database: Any = "default",
    keyed: bool = True,
    max_examples: int = 100,
) -> Callable[[], None]:
    """One group's property as an ordinary Hypothesis test (``@given`` over its calls).

    It checks the same function as :func:`run_group` and, with ``keyed``, sees the
    database (``"default"``: the active profile's) through the key of run_group's
    first round, so a failure it saves is replayed first by the next run_group
    (``pytest --actionsec``) for the same group, target and mode. Every call is
    judged on ``families`` (default all) and a finding raises; ``clock`` (started
    once by the caller) is moved per example. ``keyed=False`` uses the database
    itself, as HypoFuzz requires; run_group then adopts the campaign's failures
    (:func:`adopt_hypofuzz_failures`).
    """
    from hypothesis import HealthCheck, given, settings

    chosen = tuple(FAMILIES) if families is None else tuple(dict.fromkeys(families))
    layer = "packer" if group.layer in _PACKED_LAYERS else group.layer
    if group.layer == "boundary" and target.boundary is None:
        raise ValueError(f"target {target.path} has no boundary (serialize_args)")
    if group.function not in target.helpers:
        raise ValueError(f"target {target.path} has no {group.function}")
    if group.layer in _PACKED_LAYERS and store is None:
        raise ValueError(f"the {group.layer} layer needs store= (a pytest_actionsec.store.Store)")
    watch = "purity" in chosen

    def run_one(call: Call) -> Observation:
        with capture_logs() as lines, time_limit(timeout) as arm:
            if group.layer in _PACKED_LAYERS:
                from pytest_actionsec.store import store_executor

                return store_executor(
                    target,
                    store,
                    clock=clock,
                    logs=lines,
                    arm=arm,
                    timeout=timeout,
                    watch_inputs=watch,
                    render=group.layer == "api",
                )(call)
            return execute(
                target, call, clock=clock, logs=lines, arm=arm, timeout=timeout, watch_inputs=watch
            )

    check = _make_check(_Search(run_one, frozenset(chosen), _Collector()), group)
    parent = settings()
    inner = parent.database if database == "default" else database
    db = group_database(inner, group, target.path, mode) if keyed else inner
    config = settings(
        _round_settings(parent, max_examples, db),
        # HypoFuzz does not fuzz a test that suppresses this one.
        suppress_health_check=[h for h in HealthCheck if h.name != "nested_given"],
    )
    test: Callable[[], None] = config(
        given(calls(target, group.function, mode=mode, layer=layer))(check)
    )
    return test


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Keep Hypothesis from drawing constants found in "local" source files.

    Hypothesis (6.131 on) draws, now and then, a literal from the source of every
    imported module outside the standard library and site-packages: this plugin when
    installed editable or on ``PYTHONPATH``, a nova checkout, conftests. Which modules
    are imported when a run starts depends on the install, on what ran before in the
    process and on the xdist worker, so one seed drew other values. Its private hook
    is replaced for the run (nothing happens on a Hypothesis without it).
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - another Hypothesis layout
        yield
        return
    real = getattr(providers, "_get_local_constants", None)
    cache = getattr(getattr(providers, "CONSTANTS_CACHE", None), "cache", None)
    if real is None or cache is None or not hasattr(providers, "Constants"):
        yield  # pragma: no cover - a Hypothesis before local constants
        return
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    cache.clear()  # pools of allowed constants computed with the local ones
    try:
        yield
    finally:
        providers._get_local_constants = real
        cache.clear()


@dataclass
class _Replayed:
    examples: int = 0
    violations: dict[tuple[Any, ...], Violation] = field(default_factory=dict)


def _replay_saved(
    run_one: Callable[[Call], Observation],
    judged: frozenset[str],
    group: Group,
    target: Target,
    mode: str,
    seed: int | None,
    drawn: Any,
    parent: Any,
    inner: Any,
    adopted: Sequence[bytes],
    probed: Mapping[tuple[Any, ...], Violation],
) -> _Replayed:
    """Replay the failures the example database holds for this group (and ``adopted``).

    Apart from the seeded rounds: its own collector, its own canary tokens, and what
    it finds is not known to them, so a run in a folder with a database finds and
    prints what a run in a fresh folder does, plus what only a saved example shows.
    """
    out = _Replayed()
    if inner is None:
        return out
    search = _Search(run_one, judged, _Collector(), known=set(probed))
    final: list[Violation] = []
    tokens = (
        contextlib.nullcontext()
        if seed is None
        else seeded_canaries(seed, group.id, target.path, mode, "saved examples")
    )
    try:
        with tokens, contextlib.suppress(unittest.SkipTest):  # raised when none was saved
            _search_round(
                _make_check(search, group),
                drawn,
                _round_settings(
                    parent,
                    1,
                    group_database(inner, group, target.path, mode, adopt=adopted),
                    generate=False,
                ),
                seed,
                final,
            )
    finally:
        out.examples = search.collector.examples
        out.violations = {k: v for k, (_, v) in search.collector.best.items()}
        out.violations.update((v.key(), v) for v in final)
    return out


def run_property(
    prop: Property,
    target: Target,
    *,
    mode: str = "contract",
    max_examples: int = 100,
    seed: int | None = None,
    clock: ClockLike | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    database: Any = "default",
    executor: Callable[[Call], Observation] | None = None,
    strategy: Any = None,
    store: Any = None,
) -> PropertyResult:
    """Run one family on one helper at one layer (see :func:`run_group`)."""
    return run_group(
        prop.group,
        target,
        families=(prop.family,),
        mode=mode,
        max_examples=max_examples,
        seed=seed,
        clock=clock,
        timeout=timeout,
        database=database,
        executor=executor,
        strategy=strategy,
        store=store,
    ).for_family(prop.family)


def run_group(
    group: Group,
    target: Target,
    *,
    families: Sequence[str] | None = None,
    mode: str = "contract",
    max_examples: int = 100,
    seed: int | None = None,
    clock: ClockLike | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    database: Any = "default",
    executor: Callable[[Call], Observation] | None = None,
    strategy: Any = None,
    store: Any = None,
    seconds: float | None = None,
) -> GroupResult:
    """Judge ``families`` (default: all) on one helper at one layer in one Hypothesis run.

    Never raises for findings. Each example is judged on every family; an example
    with several violations is shrunk for the first (family order, then key), and
    every other violation keeps the smallest example that showed it. ``seed``
    makes the run reproducible (canary tokens included); ``database`` is a
    Hypothesis example database (``"default"``: the active profile's), seen through
    a key per group, target and mode: its saved failures are replayed first, apart
    (they add examples and findings), and the seeded rounds never read it, so a
    seed finds and prints the same whatever it holds. At the ``store`` layer pass
    ``store`` (a :class:`~pytest_actionsec.store.Store`): each call is packed under the time
    limit and global-state check, then written and read back outside them.
    ``executor`` replaces the execution altogether. With ``seconds`` (a time
    budget) the run keeps drawing rounds of ``max_examples`` examples, each with
    its own seed and the findings so far known, until the budget is spent: it is
    a deadline on the engine's clock, and the round running then is cut before its
    next example (what it found so far is kept, unshrunk when cut while shrinking).
    The probes always run.
    """
    from hypothesis import settings

    started = _REAL_CLOCK[0]()
    chosen = tuple(FAMILIES) if families is None else tuple(dict.fromkeys(families))
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown invariant families {unknown}; known: {tuple(FAMILIES)}")

    def skipped(reason: str) -> GroupResult:
        return GroupResult(group, chosen, "skipped", reason=reason, seed=seed)

    if group.layer == "boundary" and target.boundary is None:
        return skipped("; ".join(n for n in target.notes if "boundary" in n) or "no boundary")
    if group.function not in target.helpers:
        return skipped("; ".join(n for n in target.notes if "fault" in n) or "no such helper")
    if group.layer in _PACKED_LAYERS and executor is None and store is None:
        return skipped(f"no store given for the {group.layer} layer")
    layer = "packer" if group.layer in _PACKED_LAYERS else group.layer
    drawn = (
        strategy if strategy is not None else calls(target, group.function, mode=mode, layer=layer)
    )
    collector = _Collector()
    judged = frozenset(chosen)
    watch = "purity" in judged

    # A seeded run plants the same canary tokens again (the probes' and the drawn ones).
    tokens = (
        contextlib.nullcontext()
        if seed is None
        else seeded_canaries(seed, group.id, target.path, mode)
    )
    with tokens, _without_local_constants(), capture_logs() as lines, time_limit(timeout) as arm:
        run_one: Callable[[Call], Observation]
        if executor is not None:
            run_one = executor
        elif group.layer in _PACKED_LAYERS:
            from pytest_actionsec.store import store_executor

            run_one = store_executor(
                target,
                store,
                clock=clock,
                logs=lines,
                arm=arm,
                timeout=timeout,
                watch_inputs=watch,
                render=group.layer == "api",
            )
        else:

            def run_one(call: Call) -> Observation:
                return execute(
                    target,
                    call,
                    clock=clock,
                    logs=lines,
                    arm=arm,
                    timeout=timeout,
                    watch_inputs=watch,
                )

        # Every violation not shown by a probe is raised (and so shrunk) in the round
        # that first finds it;
        # a round that finds one ends early (Hypothesis stops generating soon after a
        # failure), so up to TOP_UP_ROUNDS more rounds spend what is left of
        # ``max_examples`` with the keys found so far known: judged and kept, never
        # raised again, so a defect found once does not end the search for others.
        search = _Search(run_one, judged, collector)
        known, fresh_keys = search.known, search.fresh_keys
        check = _make_check(search, group)
        parent = settings()
        inner = parent.database if database == "default" else database
        adopted = [] if inner is None else adopt_hypofuzz_failures(inner, group, target.path, mode)
        final: list[Violation] = []
        note = ""
        fixed = probes(target, group.function, layer=layer) if strategy is None else []
        probed: dict[tuple[Any, ...], Violation] = {}
        replayed = _Replayed()
        try:
            # The probes first: the minimal shapes of known defects, met whatever the
            # seed. What they find is reported with the probe as its input (already
            # minimal: nothing to shrink) and is known to the search, so a defect the
            # probes show neither ends nor slows the search for the others.
            for probe in fixed:
                try:
                    check(probe)
                except _Found:
                    pass
            probed.update((k, v) for k, (_, v) in collector.best.items())
            known.update(probed)
            # The saved examples next, apart: what the database holds neither changes
            # the seeded rounds below (they never read it) nor their tokens.
            replayed = _replay_saved(
                run_one, judged, group, target, mode, seed, drawn, parent, inner, adopted, probed
            )
            searched = 0  # examples generated before each round's first new finding
            deadline = None if seconds is None else started + seconds
            search.deadline = deadline
            round_no = 0
            while True:
                if deadline is None:
                    budget = max_examples - searched
                    if round_no > TOP_UP_ROUNDS or budget <= 0:
                        break
                else:  # a time budget: rounds of max_examples until it is spent
                    budget = max_examples
                    if round_no > 0 and _REAL_CLOCK[0]() >= deadline:
                        break
                search.round_calls, search.first_raise = 0, None
                fresh_keys.clear()
                found_keys = _search_round(
                    check,
                    drawn,
                    _round_settings(
                        parent,
                        budget,
                        group_database(inner, group, target.path, mode),
                        reuse=False,
                    ),
                    None if seed is None else seed + round_no,
                    final,
                )
                note = found_keys or note
                round_no += 1
                if deadline is not None:
                    known.update(fresh_keys)
                    continue
                if not fresh_keys:
                    break
                known.update(fresh_keys)
                searched += (
                    search.first_raise if search.first_raise is not None else search.round_calls
                )
        except _Hung as hung:
            final.extend(hung.violations)
            note = "stopped at the first call that did not return in time (not shrunk)"
    best = {k: v for k, (_, v) in collector.best.items()}
    for v in final:  # Hypothesis's shrunk example wins for its own violations
        best[v.key()] = v
    best.update(probed)  # a probe is the minimal shape of its defect
    for key, v in replayed.violations.items():  # what only a saved example showed
        best.setdefault(key, v)
    # A crash seen on contract input explains the same crash on hostile input.
    contract_crashes = {
        (v.function, v.layer, v.kind) for v in best.values() if v.invariant == "crash.contract"
    }
    violations = sorted(
        (
            v
            for v in best.values()
            if not (
                v.invariant == "crash.hostile" and (v.function, v.layer, v.kind) in contract_crashes
            )
        ),
        key=lambda v: v.key(),
    )
    return GroupResult(
        group,
        chosen,
        "failed" if [v for v in violations if not v.blame] else "passed",
        examples=collector.examples + replayed.examples,
        violations=violations,
        reason=note,
        seed=seed,
        seconds=_REAL_CLOCK[0]() - started,
    )
