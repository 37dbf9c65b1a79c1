"""A watchdog below Python, for calls a Python-level alarm cannot stop.

The per-call time limit (:func:`~pytest_actionsec.execution.sandbox.time_limit`)
raises in the helper from a SIGALRM handler, which runs only between bytecodes: a
helper stuck in one long call into C (``sum(range(10**15))``, a blocking read in a
C extension) or one that swallows the alarm in a loop is out of its reach.
:func:`guarded` arms :mod:`faulthandler`'s watchdog thread, which needs no GIL,
around such a call: past the limit and a grace, it writes every thread's stack to
the process's dump file and ends the process with exit status 1. Whoever started
the process (the supervisor of :mod:`~pytest_actionsec.execution.supervisor`, or
xdist's controller for a worker) reads the dump with :func:`stuck_report` and turns
it into one line naming ``crash.timeout`` and where the call was stuck.

Time spent waiting on the database inside a call is not the call's:
:func:`pause` and :func:`resume` re-arm the watchdog with the I/O deadline for its span.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any


def real_monotonic() -> float:
    """The machine's monotonic clock, never a frozen one: a test clock (freezegun) may
    be frozen around the waits this measures."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


__all__ = [
    "Stuck",
    "dump_path",
    "grace",
    "guarded",
    "install",
    "installed",
    "pause",
    "real_monotonic",
    "resume",
    "stuck_line",
    "stuck_report",
]

#: What the watchdog adds to a call's limit before it ends the process: the alarm
#: repeats within it, so a call in Python code has had many chances to stop.
MIN_GRACE = 3.0


@dataclass
class _Dog:
    file: IO[Any]
    path: str | None
    #: the limit of the call being guarded (None: none), and when it was armed
    limit: float | None = None
    armed_at: float = 0.0
    #: when a wait on a server paused the call's deadline (None: not paused)
    paused_at: float | None = None


_DOG: _Dog | None = None


def grace(limit: float) -> float:
    """Seconds past ``limit`` before the watchdog stops a call (at least
    :data:`MIN_GRACE`, and as long as the limit itself)."""
    return max(MIN_GRACE, limit)


def install(path: str | None = None, *, file: IO[Any] | None = None) -> None:
    """Make :func:`guarded` arm the watchdog, dumping to ``path`` (truncated) or
    ``file`` (default: stderr); installing again replaces the previous dump file."""
    global _DOG
    import sys

    if path is not None:
        file = open(path, "w")
        # which thread's stack is the call's: the dump lists every thread
        file.write(f"{_MAIN} {threading.main_thread().ident:#x}\n")
        file.flush()
    _DOG = _Dog(file=file if file is not None else sys.stderr, path=path)


def installed() -> bool:
    """True when :func:`guarded` arms the watchdog in this process."""
    return _DOG is not None


def dump_path() -> str | None:
    """The dump file's path (None when not installed or dumping to a stream)."""
    return None if _DOG is None else _DOG.path


def _arm(seconds: float) -> None:
    assert _DOG is not None
    faulthandler.dump_traceback_later(max(seconds, 0.001), exit=True, file=_DOG.file)


@contextlib.contextmanager
def guarded(limit: float | None) -> Iterator[None]:
    """Arm the watchdog for one call limited to ``limit`` seconds (nothing when not
    installed or there is no limit); disarmed when the block ends."""
    dog = _DOG
    if dog is None or not limit:
        yield
        return
    dog.limit, dog.armed_at = limit, real_monotonic()
    _arm(limit + grace(limit))
    try:
        yield
    finally:
        dog.limit = dog.paused_at = None
        faulthandler.cancel_dump_traceback_later()


def pause(io_deadline: float) -> None:
    """Inside a guarded call, give a wait on a server its own deadline
    (``io_deadline`` seconds and a grace) until :func:`resume`: time spent waiting on
    the database is not the call's. Outside a guarded call, nothing."""
    dog = _DOG
    if dog is None or dog.limit is None or dog.paused_at is not None:
        return
    dog.paused_at = real_monotonic()
    _arm(io_deadline + grace(io_deadline))


def resume() -> None:
    """End :func:`pause`: the call's remaining time is armed again."""
    dog = _DOG
    if dog is None or dog.paused_at is None:
        return
    now = real_monotonic()
    dog.armed_at += now - dog.paused_at
    dog.paused_at = None
    if dog.limit is not None:
        _arm(dog.limit + grace(dog.limit) - (now - dog.armed_at))


@dataclass(frozen=True)
class Stuck:
    """What a watchdog dump says: how long the call ran, and where it was stuck
    (innermost frame first, the code under test's frames before ours)."""

    seconds: str
    frames: tuple[str, ...]

    def where(self) -> str:
        """``path:line in function`` of the innermost frame, and its caller."""
        if not self.frames:
            return "an unknown place (the dump holds no frame)"
        shown = self.frames[0]
        if len(self.frames) > 1:
            shown += f" (called from {self.frames[1]})"
        return shown


_MAIN = "actionsec watchdog: main thread"
_TIMEOUT = re.compile(r"^Timeout \(([0-9:.]+)\)!", re.M)
_FRAME = re.compile(r'^\s+File "([^"]+)", line (\d+) in (\S+)', re.M)
_OURS = (os.sep + "pytest_actionsec" + os.sep, os.sep + "_pytest" + os.sep)


def stuck_report(text: str) -> Stuck | None:
    """Parse a watchdog dump (None when ``text`` is not one): the frames of the
    thread that was running, the plugin's and pytest's own frames left out."""
    found = _TIMEOUT.search(text)
    if found is None:
        return None
    blocks = text[found.end() :].strip("\n").split("\n\n")
    main = re.search(rf"^{_MAIN} (0x[0-9a-f]+)$", text, re.M)
    block = blocks[0]  # without the header: the first thread listed
    for candidate in blocks:
        header = re.match(r"\s*(?:Current )?[Tt]hread (0x[0-9a-f]+)", candidate)
        if (
            main is not None
            and header is not None
            and int(header.group(1), 16) == int(main.group(1), 16)
        ):
            block = candidate
    frames = []
    for path, line, function in _FRAME.findall(block):
        if any(part in path for part in _OURS):
            continue
        frames.append(f"{_short(path)}:{line} in {function}")
    return Stuck(seconds=found.group(1), frames=tuple(frames))


def _short(path: str) -> str:
    """``path`` relative to the working directory when under it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def stuck_line(stuck: Stuck, limit: float | None) -> str:
    """What a watchdog stop means, in words: ``crash.timeout`` and where."""
    over = f"its {limit:g} s limit" if limit else "its time limit"
    return (
        f"crash.timeout: a call of the code under test ran past {over} where the "
        "limit's alarm cannot stop it (a loop in C code, or one that swallows the "
        f"alarm), stuck at {stuck.where()}; the watchdog stopped it after {stuck.seconds}"
    )
