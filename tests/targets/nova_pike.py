"""Nova's helpers as nova 14 to 16 shipped them: no updated_at mirror (it came with nova 17,
InstanceActionList 1.1), an event start without ``host`` (InstanceActionEvent 1.2, nova 18),
no ``details``. Written for the tests in that shape."""

from oslo_utils import timeutils

from tests.targets.nova_rocky import InstanceAction as _RockyAction
from tests.targets.nova_rocky import InstanceActionEvent as _RockyEvent
from tests.targets.nova_rocky import (
    serialize_args,  # noqa: F401
)


class InstanceAction:
    VERSION = "1.1"
    fields = dict(_RockyAction.fields)

    @staticmethod
    def pack_action_start(context, instance_uuid, action_name):
        return {
            "request_id": context.request_id,
            "instance_uuid": instance_uuid,
            "user_id": context.user_id,
            "project_id": context.project_id,
            "action": action_name,
            "start_time": context.timestamp,
        }

    @staticmethod
    def pack_action_finish(context, instance_uuid):
        return {
            "request_id": context.request_id,
            "instance_uuid": instance_uuid,
            "finish_time": timeutils.utcnow(),
        }


class InstanceActionList:
    VERSION = "1.0"


class InstanceActionEvent:
    VERSION = "1.1"
    fields = {k: v for k, v in _RockyEvent.fields.items() if k != "host"}

    @staticmethod
    def pack_action_event_start(context, instance_uuid, event_name):
        return {
            "event": event_name,
            "instance_uuid": instance_uuid,
            "request_id": context.request_id,
            "start_time": timeutils.utcnow(),
        }

    pack_action_event_finish = _RockyEvent.pack_action_event_finish
