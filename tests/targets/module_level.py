"""The four helpers as module-level functions (no classes, no schemas, no serialize_args)."""

import datetime


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def pack_action_start(context, instance_uuid, action_name):
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
