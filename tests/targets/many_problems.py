"""A target with every kind of problem at once: a helper missing, two wrong signatures,
and its own fault sink with the wrong signature."""


def pack_action_start(context, instance_uuid):
    return {}


def pack_action_event_start(context, instance_uuid, event_name, host=None):
    return {}


def pack_action_event_finish(context):
    return {}


def add_instance_fault_from_exc(context, fault):
    pass
