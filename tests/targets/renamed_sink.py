"""A fork whose fault sink is ``add_server_fault_from_exc`` (module level and on a class)
and whose RPC boundary is ``remotable_args``: found only when named by dotted path."""

from tests.targets.module_level import (  # noqa: F401
    pack_action_event_finish,
    pack_action_event_start,
    pack_action_finish,
    pack_action_start,
)


def add_server_fault_from_exc(context, instance, fault, exc_info=None, fault_message=None):
    """Records the fault's class name only (never its text: no leak), always code 500
    (wrong for a Nova exception with ``kwargs['code']``: ``integrity.code``)."""
    from nova import objects

    record = objects.InstanceFault(context=context)
    record.host = "compute-1"
    record.instance_uuid = instance.uuid
    record.code = 500
    record.message = type(fault).__name__
    record.details = ""
    record.create()


class Faults:
    """The same sink as a class attribute."""

    add_server_fault_from_exc = staticmethod(add_server_fault_from_exc)


def remotable_args(fn):
    """An RPC boundary that passes the arguments on unchanged."""

    def wrapper(obj, *args, **kwargs):
        return fn(obj, *args, **kwargs)

    return wrapper


NOT_CALLABLE = 42
