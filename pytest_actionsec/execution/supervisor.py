"""A parent that outlives the test process, so the code under test cannot end the run
unseen.

:mod:`~pytest_actionsec.execution.sandbox` turns ``os._exit`` and its kin into
findings while a helper runs, but a binding taken before (``from os import
_exit``), a crash in C, or the watchdog stopping a call the alarm could not
(:mod:`~pytest_actionsec.execution.watchdog`) end the process itself: with exit
status 0 for ``_exit(0)``, and without pytest's summary or report.
:func:`supervise` forks once, before anything is collected or imported: the child
runs the session, the parent waits for it. When the child ends without reaching
the end of pytest (:meth:`Supervision.finished`), the parent says in one line what
was running and how it ended (where it was stuck, for the watchdog) and exits
non-zero. Signals sent to the parent by another process (a CI runner's SIGTERM)
are passed on to the child; a terminal's Ctrl-C already reaches both.
"""

from __future__ import annotations

import dataclasses
import mmap
import os
import signal
import struct
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pytest_actionsec.execution import watchdog
from pytest_actionsec.execution.watchdog import Stuck

__all__ = ["Ending", "Supervision", "supervise"]

_SIZE = 4096
_HEADER = struct.Struct("<II")  # finished flag, length of the running item's name
_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD}


class Supervision:
    """The child's side: what it is running and whether it reached the end."""

    def __init__(self, shared: mmap.mmap) -> None:
        self._shared = shared

    def running(self, what: str) -> None:
        """Record what runs now (a test's node id), for the parent's line."""
        data = what.encode("utf-8", "replace")[: _SIZE - _HEADER.size]
        self._shared[_HEADER.size : _HEADER.size + len(data)] = data
        _HEADER.pack_into(self._shared, 0, 0, len(data))

    def finished(self) -> None:
        """The run reached its end: the parent exits with the child's status."""
        _HEADER.pack_into(self._shared, 0, 1, _HEADER.unpack_from(self._shared)[1])


@dataclass(frozen=True)
class Ending:
    """How the supervised process ended."""

    #: the exit status the parent gives (128 + the signal's number when killed; never
    #: 0 for a run that did not finish)
    status: int
    #: the child's own exit status (None when a signal killed it)
    exited: int | None
    #: the signal that killed it, if one did
    killed_by: int | None
    #: whether it reached the end of the run (pytest's own exit status stands)
    finished: bool
    #: the last thing it started running ("" when nothing had started)
    running: str
    #: where the watchdog found the call stuck (None: the watchdog did not fire)
    stuck: Stuck | None
    #: the signals another process sent the run, passed on to it by the parent
    passed_on: tuple[int, ...] = ()

    def line(self, limit: float | None = None) -> str:
        """One line on an unfinished run: what was running, how it ended, what it
        means (``limit`` the per-call time limit, for the watchdog's line)."""
        during = f" while {self.running} ran" if self.running else ""
        if self.stuck is not None:
            return (
                f"{watchdog.stuck_line(self.stuck, limit)}{during}, ending the test "
                f"process (exit status {self.status})"
            )
        if self.killed_by is not None and self.killed_by in self.passed_on:
            name = signal.Signals(self.killed_by).name
            return (
                f"the test process was stopped by {name}, which another process sent the "
                f"run{during}: no summary and no report; the run fails (exit status "
                f"{self.status})"
            )
        if self.killed_by is not None:
            name = signal.Signals(self.killed_by).name
            how = f"was killed by {name}"
        else:
            how = f"exited with status {self.exited}"
        return (
            f"the test process {how}{during}, before the run ended: no summary and no "
            "report (the code under test ending the process past the guard, e.g. an "
            "os._exit bound at import, or a crash); the run fails "
            f"(exit status {self.status})"
        )


#: What the parent exits with when the child exited 0 without finishing.
_EXIT_WHEN_ZERO = 1


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the parent dies (best effort)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except Exception:
        pass


def supervise(
    on_end: Callable[[Ending], None], *, dump_dir: str | None = None
) -> Supervision | None:
    """Fork; returns in the child (the run goes on there) a :class:`Supervision`, or
    None when this process cannot be supervised (no ``fork``, threads running).

    The parent never returns: it waits for the child, calls ``on_end`` with how it
    ended when it did not finish (to say so and mark the report), and exits with the
    child's status, or a non-zero one when the run did not finish. The child's
    watchdog dumps into a file of ``dump_dir`` (default: a temporary folder).
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    shared = mmap.mmap(-1, _SIZE)
    folder = tempfile.mkdtemp(prefix="actionsec-", dir=dump_dir)
    dump = os.path.join(folder, "watchdog")
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    pid = os.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        _die_with_parent()
        watchdog.install(dump)
        return Supervision(shared)
    try:
        passed_on: list[int] = []
        status = _wait(pid, passed_on)
        ending = dataclasses.replace(_ending(status, shared, dump), passed_on=tuple(passed_on))
        if not ending.finished:
            on_end(ending)
    except BaseException:
        os._exit(3)
    finally:
        for path in (dump, folder):
            try:
                (os.rmdir if path == folder else os.unlink)(path)
            except OSError:
                pass
    os._exit(ending.status)


def _wait(pid: int, passed_on: list[int]) -> int:
    """Wait for the child, passing on signals other processes send (listed in
    ``passed_on``); its wait status."""
    while True:
        info = signal.sigwaitinfo(_SIGNALS)
        if info.si_signo == signal.SIGCHLD:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return status
            continue
        if info.si_code <= 0:  # sent by a process (kill, sigqueue), not the terminal
            passed_on.append(info.si_signo)
            try:
                os.kill(pid, info.si_signo)
            except ProcessLookupError:
                pass


def _ending(status: int, shared: mmap.mmap, dump: str) -> Ending:
    finished, length = _HEADER.unpack_from(shared)
    running = shared[_HEADER.size : _HEADER.size + length].decode("utf-8", "replace")
    try:
        text = Path(dump).read_text(errors="replace")
    except OSError:
        text = ""
    stuck = watchdog.stuck_report(text)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return Ending(128 + sig, None, sig, bool(finished), running, stuck)
    code = os.WEXITSTATUS(status)
    if finished:
        return Ending(code, code, None, True, running, stuck)
    return Ending(code or _EXIT_WHEN_ZERO, code, None, False, running, stuck)
