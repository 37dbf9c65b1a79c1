"""A target whose pack_action_event_finish cannot take exc_val/exc_tb."""

from tests.targets.missing_helper import InstanceAction  # noqa: F401


class InstanceActionEvent:
    @staticmethod
    def pack_action_event_start(context, instance_uuid, event_name, host=None):
        return {}

    @staticmethod
    def pack_action_event_finish(context, instance_uuid):
        return {}
