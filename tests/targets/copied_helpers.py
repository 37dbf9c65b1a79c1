"""A project that copied nova's helpers (shaped like OpenStack Zun's container actions).

Its own objects and names: ``ContainerAction`` and ``ContainerActionEvent`` with their own
fields, ``container_uuid`` for ``instance_uuid``, an action finish that also takes the
action's name and the exception, an event start without ``host``, and no RPC boundary or
fault sink. Written for the tests in that shape (no code of the project itself).
"""

from oslo_utils import timeutils
from oslo_versionedobjects import fields


class ContainerAction:
    VERSION = "1.2"
    fields = {
        "id": fields.IntegerField(),
        "action": fields.StringField(nullable=True),
        "container_uuid": fields.UUIDField(nullable=True),
        "request_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "start_time": fields.DateTimeField(tzinfo_aware=False, nullable=True),
        "finish_time": fields.DateTimeField(tzinfo_aware=False, nullable=True),
        "message": fields.StringField(nullable=True),
        "uuid": fields.StringField(nullable=True),
        "created_at": fields.DateTimeField(tzinfo_aware=False, nullable=True),
        "updated_at": fields.DateTimeField(tzinfo_aware=False, nullable=True),
    }

    @staticmethod
    def pack_action_start(context, container_uuid, action_name):
        return {
            "request_id": context.request_id,
            "container_uuid": container_uuid,
            "user_id": context.user_id,
            "project_id": context.project_id,
            "action": action_name,
            "start_time": context.timestamp,
        }

    @staticmethod
    def pack_action_finish(context, container_uuid, action_name, exc_val=None, exc_tb=None):
        values = {
            "request_id": context.request_id,
            "container_uuid": container_uuid,
            "action": action_name,
            "finish_time": timeutils.utcnow(),
        }
        if exc_tb is not None:
            values["message"] = "Error"
        return values


class ContainerActionEvent:
    VERSION = "1.0"
    fields = {
        "id": fields.IntegerField(),
        "event": fields.StringField(nullable=True),
        "action_id": fields.IntegerField(nullable=True),
        "start_time": fields.DateTimeField(tzinfo_aware=False, nullable=True),
        "finish_time": fields.DateTimeField(tzinfo_aware=False, nullable=True),
        "result": fields.StringField(nullable=True),
        "traceback": fields.StringField(nullable=True),
        "created_at": fields.DateTimeField(tzinfo_aware=False, nullable=True),
        "updated_at": fields.DateTimeField(tzinfo_aware=False, nullable=True),
    }

    @staticmethod
    def pack_action_event_start(context, container_uuid, event_name):
        return {
            "event": event_name,
            "container_uuid": container_uuid,
            "request_id": context.request_id,
            "start_time": timeutils.utcnow(),
        }

    @staticmethod
    def pack_action_event_finish(context, container_uuid, event_name, exc_val=None, exc_tb=None):
        values = {
            "event": event_name,
            "container_uuid": container_uuid,
            "request_id": context.request_id,
            "finish_time": timeutils.utcnow(),
        }
        if exc_tb is None:
            values["result"] = "Success"
        else:
            values["result"] = "Error"
            values["message"] = exc_val
            values["traceback"] = exc_tb
        return values
