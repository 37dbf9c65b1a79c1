"""The sandbox every call of the code under test runs in.

One place for what surrounds a call at every layer: the per-call time limit
(:func:`time_limit`), the captured log records (:func:`capture_logs`,
:func:`example_logs`), the snapshot of the inputs (``purity.inputs``) and of
process-global state, which is put back after the call (``purity.globals``).
:func:`observe` calls one helper on ready-made inputs in it and returns the
packer's :class:`~pytest_actionsec.oracle.Observation`.
"""

from __future__ import annotations

import contextlib
import copyreg
import datetime as _dt
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_actionsec.canaries import Canary
from pytest_actionsec.execution.watchdog import guarded
from pytest_actionsec.locations import raise_site
from pytest_actionsec.oracle import CONTEXT_ATTRS, MISSING, Observation
from pytest_actionsec.targets import Target

__all__ = [
    "WATCHED_BINDINGS",
    "Arm",
    "ListHandler",
    "ProcessExit",
    "TimedOut",
    "capture_logs",
    "example_logs",
    "no_process_exit",
    "observe",
    "time_limit",
]

#: A per-call context manager that arms the time limit (see :func:`time_limit`).
Arm = Callable[[], contextlib.AbstractContextManager[None]]


class TimedOut(BaseException):
    """Raised by the alarm inside a helper that does not return in time."""


class ProcessExit(BaseException):
    """Raised in place of what would end or take over the test process, when the code
    under test calls it: ``os._exit``, ``os.abort``, ``os.kill`` of its own process
    (or group), ``signal.signal`` (a handler of its own would swallow the time limit's
    alarm, or the run's SIGINT). A crash of that call, never the end of the run."""


def _refuse(what: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        raise ProcessExit(f"{what}({shown}) called by the code under test")

    return refused


@contextlib.contextmanager
def no_process_exit() -> Iterator[None]:
    """While the block runs, ``os._exit``, ``os.abort``, ``signal.signal`` and ``os.kill``
    of this process raise :class:`ProcessExit` instead (a binding the code under test
    took before, ``from os import _exit``, is out of reach); put back after."""
    real_kill = os.kill
    own = {0, os.getpid(), -os.getpgrp()}

    def kill(pid: int, sig: int) -> None:
        if pid in own:
            raise ProcessExit(
                f"os.kill({pid!r}, {sig!r}) of its own process called by the code under test"
            )
        real_kill(pid, sig)

    saved = [(os, "_exit", os._exit), (os, "abort", os.abort), (os, "kill", real_kill)]
    saved.append((signal, "signal", signal.signal))
    os._exit = _refuse("os._exit")
    os.abort = _refuse("os.abort")
    os.kill = kill
    signal.signal = _refuse("signal.signal")
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


@contextlib.contextmanager
def time_limit(
    seconds: float | None,
) -> Iterator[Callable[[], contextlib.AbstractContextManager[None]]]:
    """Install a SIGALRM handler for the block; yields a per-call ``arm()`` context.

    ``arm()`` also arms the process's watchdog when one is installed
    (:func:`~pytest_actionsec.execution.watchdog.guarded`): a call the alarm cannot
    stop ends the process, which its supervisor reports. Without a main thread or
    SIGALRM (Windows, worker threads) calls are not limited.
    """
    if seconds is None or seconds <= 0:
        yield contextlib.nullcontext
        return
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield contextlib.nullcontext
        return
    limit: float = seconds
    # The alarm repeats: a TimedOut raised inside a gc callback, a __del__ or a bare
    # ``except:`` of the helper is swallowed, and a one-shot alarm would then be lost.
    again = min(max(limit / 10, 0.01), 1.0)
    armed = [False]

    def _alarm(signum: int, frame: Any) -> None:
        if armed[0]:
            raise TimedOut()

    previous = signal.signal(signal.SIGALRM, _alarm)

    @contextlib.contextmanager
    def arm() -> Iterator[None]:
        armed[0] = True
        signal.setitimer(signal.ITIMER_REAL, limit, again)
        try:
            with guarded(limit):  # what the alarm cannot reach (see watchdog)
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
        running = _running_frames()
        chain: list[tuple[int, int, tuple[str, ...]]] = []
        node = obj
        while node is not None and len(chain) < 50:
            frame = node.tb_frame
            chain.append((id(frame), node.tb_lineno, _local_names(frame, running)))
            node = node.tb_next
        state["tb_chain"] = tuple(chain)
    return state


def _running_frames() -> set[int]:
    """The ids of the frames this thread is running (their locals still change)."""
    out: set[int] = set()
    frame: Any = sys._getframe()
    while frame is not None:
        out.add(id(frame))
        frame = frame.f_back
    return out


def _local_names(frame: Any, running: set[int]) -> tuple[str, ...]:
    """The names bound in a finished frame of a traceback (``traceback.clear_frames``
    or ``frame.clear()`` empties them); none for a running or a module-level frame."""
    if id(frame) in running:
        return ()
    try:
        names = frame.f_locals
        if names is frame.f_globals:
            return ()
        return tuple(sorted(str(name) for name in names))
    except Exception:
        return ()


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
    arm: Arm = contextlib.nullcontext,
    timeout: float | None = None,
    watch_inputs: bool = True,
    canaries: tuple[Canary, ...] = (),
    hostile: tuple[str, ...] = (),
    bytes_inputs: tuple[bytes, ...] = (),
    describe_input: Callable[[], str] | None = None,
) -> Observation:
    """Call one helper on ready-made inputs and return what the oracle needs.

    ``arguments`` maps parameter names (``instance_uuid``, ``action_name``,
    ``event_name``, ``host``, ``exc_val``, ``exc_tb``) to values. With
    ``watch_inputs`` False the inputs are not snapshotted, so ``purity.inputs``
    cannot be judged (global state is always snapshotted and restored).
    ``canaries``, ``hostile``, ``bytes_inputs`` and ``describe_input`` are what the
    caller knows of the inputs (see :class:`~pytest_actionsec.oracle.Observation`).
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
    facts = target.facts_of(function)
    args = [context]
    kwargs: dict[str, Any] = {}
    for name, value in arguments.items():
        if name in facts.positional or positional:
            args.append(value)
        else:
            kwargs[facts.own_name(name)] = value
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
        with arm(), no_process_exit():
            record = invoke(*args, **kwargs)
    except TimedOut:
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
    for name in facts.keywords:
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
        helper_facts=facts,
        table_columns=target.columns_of(function),
        raise_site=site,
        canaries=canaries,
        hostile=hostile,
        bytes_inputs=bytes_inputs,
        describe_input=describe_input,
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


@contextlib.contextmanager
def example_logs() -> Iterator[list[str]]:
    """Capture one example's log records; cheap inside an active :func:`capture_logs`.

    ``capture_logs`` changes the root level, which makes :mod:`logging` clear
    the cache of every logger (nova has thousands: ~1 ms). When the root logger
    already lets everything through (inside a run) only a handler is added.
    """
    root = logging.getLogger()
    if root.getEffectiveLevel() <= logging.DEBUG and logging.root.manager.disable < logging.DEBUG:
        handler = ListHandler()
        root.addHandler(handler)
        try:
            yield handler.lines
        finally:
            root.removeHandler(handler)
    else:
        with capture_logs() as lines:
            yield lines
