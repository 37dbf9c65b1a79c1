"""Helpers that try to end or take over the test process (``ACTIONSEC_TEST_EXIT`` says
how: ``os_exit0``, ``os_exit3``, ``abort``, ``kill``, ``signal``, ``sys_exit``); the other
three helpers are nova 34's shape, correct. Judged with the built-in suite (issue 33)."""

import datetime
import os
import signal
import sys


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _leave():
    how = os.environ.get("ACTIONSEC_TEST_EXIT", "")
    if how == "os_exit0":
        os._exit(0)
    elif how == "os_exit3":
        os._exit(3)
    elif how == "abort":
        os.abort()
    elif how == "kill":
        os.kill(os.getpid(), signal.SIGTERM)
    elif how == "signal":
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
    elif how == "sys_exit":
        sys.exit(0)


def pack_action_start(context, instance_uuid, action_name):
    _leave()
    return {
        "request_id": context.request_id,
        "instance_uuid": instance_uuid,
        "user_id": context.user_id,
        "project_id": context.project_id,
        "action": action_name,
        "start_time": context.timestamp,
        "updated_at": context.timestamp,
    }


def pack_action_finish(context, instance_uuid):
    now = _now()
    return {
        "request_id": context.request_id,
        "instance_uuid": instance_uuid,
        "finish_time": now,
        "updated_at": now,
    }


def pack_action_event_start(context, instance_uuid, event_name, host=None):
    return {
        "event": event_name,
        "instance_uuid": instance_uuid,
        "request_id": context.request_id,
        "start_time": _now(),
        "host": host,
    }


def pack_action_event_finish(context, instance_uuid, event_name, exc_val=None, exc_tb=None):
    values = {
        "event": event_name,
        "instance_uuid": instance_uuid,
        "request_id": context.request_id,
        "finish_time": _now(),
        "result": "Success" if exc_tb is None else "Error",
    }
    if exc_tb is not None:
        values["traceback"] = exc_tb
    return values
