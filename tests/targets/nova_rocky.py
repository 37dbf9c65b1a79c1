"""Nova's helpers as nova 18 (Rocky) to 20 shipped them, loaded on today's nova.

InstanceActionEvent 1.2 (``host``, no ``details``: details came with 1.4 in nova 21),
InstanceActionList 1.1 (updated_at mirrors the start and finish times since nova 17), and an
event finish that packs the exception as ``message``, a key that is no column of the events
table (nova's database API sets it on the row object, which never writes it). Written for
the tests in that shape.
"""

from nova.objects import base as _base
from nova.objects import fields
from oslo_utils import timeutils

serialize_args = _base.serialize_args

_PERSISTENT = {
    "created_at": fields.DateTimeField(nullable=True),
    "updated_at": fields.DateTimeField(nullable=True),
    "deleted_at": fields.DateTimeField(nullable=True),
    "deleted": fields.BooleanField(default=False),
}


class InstanceAction:
    VERSION = "1.1"
    fields = {
        "id": fields.IntegerField(),
        "action": fields.StringField(nullable=True),
        "instance_uuid": fields.UUIDField(nullable=True),
        "request_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "start_time": fields.DateTimeField(nullable=True),
        "finish_time": fields.DateTimeField(nullable=True),
        "message": fields.StringField(nullable=True),
        **_PERSISTENT,
    }

    @staticmethod
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

    @staticmethod
    def pack_action_finish(context, instance_uuid):
        now = timeutils.utcnow()
        return {
            "request_id": context.request_id,
            "instance_uuid": instance_uuid,
            "finish_time": now,
            "updated_at": now,
        }


class InstanceActionList:
    VERSION = "1.1"


class InstanceActionEvent:
    VERSION = "1.2"
    fields = {
        "id": fields.IntegerField(),
        "event": fields.StringField(nullable=True),
        "action_id": fields.IntegerField(nullable=True),
        "start_time": fields.DateTimeField(nullable=True),
        "finish_time": fields.DateTimeField(nullable=True),
        "result": fields.StringField(nullable=True),
        "traceback": fields.StringField(nullable=True),
        "host": fields.StringField(nullable=True),
        **_PERSISTENT,
    }

    @staticmethod
    def pack_action_event_start(context, instance_uuid, event_name, host=None):
        return {
            "event": event_name,
            "instance_uuid": instance_uuid,
            "request_id": context.request_id,
            "start_time": timeutils.utcnow(),
            "host": host,
        }

    @staticmethod
    def pack_action_event_finish(context, instance_uuid, event_name, exc_val=None, exc_tb=None):
        values = {
            "event": event_name,
            "instance_uuid": instance_uuid,
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
