"""Helpers of nova 34's shape, correct, whose ``pack_action_start`` does something to the
database server on its ``ACTIONSEC_TEST_OUTAGE_AT``-th call: ``kill`` (SIGKILL: gone for
good) or ``freeze`` (SIGSTOP: the server answers nothing) the process
``ACTIONSEC_TEST_SERVER_PID``, or ``hang`` (sleep, for a test that kills the run). The
environment failing mid-run, never the code's fault (issue 33): the run must report no
finding."""

import os
import signal
import time

from tests.targets import module_level
from tests.targets.module_level import (  # noqa: F401 - the target's other helpers
    pack_action_event_finish,
    pack_action_event_start,
    pack_action_finish,
)

_CALLS = [0]


def _outage():
    _CALLS[0] += 1
    if _CALLS[0] != int(os.environ.get("ACTIONSEC_TEST_OUTAGE_AT", "0")):
        return
    pid = int(os.environ["ACTIONSEC_TEST_SERVER_PID"])
    how = os.environ.get("ACTIONSEC_TEST_OUTAGE", "kill")
    if how == "hang":  # the test kills this process: its database is left behind
        time.sleep(600)
    family = _family(pid)  # PostgreSQL: the postmaster and its backends
    for member in family:
        os.kill(member, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    if how == "kill":  # gone before the record is stored
        for _ in range(500):
            if all(_gone(member) for member in family):
                return
            time.sleep(0.01)


def _family(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return _reaped(pid)


def _reaped(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def pack_action_start(context, instance_uuid, action_name):
    _outage()
    return module_level.pack_action_start(context, instance_uuid, action_name)
