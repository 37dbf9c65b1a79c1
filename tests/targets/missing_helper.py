"""A target that lacks pack_action_event_finish."""


class InstanceAction:
    @staticmethod
    def pack_action_start(context, instance_uuid, action_name):
        return {}

    @staticmethod
    def pack_action_finish(context, instance_uuid):
        return {}


class InstanceActionEvent:
    @staticmethod
    def pack_action_event_start(context, instance_uuid, event_name, host=None):
        return {}
