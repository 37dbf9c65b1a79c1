"""A server's history read back through nova's own API code (index and show).

``GET /servers/{id}/os-instance-actions`` (``index``, with ``changes-since`` from
microversion 2.58) and ``GET /servers/{id}/os-instance-actions/{request_id}``
(``show``) are nova's ``InstanceActionsController`` methods under nova's own policy
enforcer (in-code defaults, as :mod:`pytest_actionsec.exposure` renders), with the
server lookup (``compute_api.get``) handing back the given server and the action
lookups going to a :class:`~pytest_actionsec.history.stores.HistoryStore` through
nova's objects (``_from_db_object``, ``obj_make_list``) as nova's
``InstanceActionAPI`` does. The result is what goes over the wire (JSON, parsed back).
"""

from __future__ import annotations

import contextlib
import inspect
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pytest_actionsec import exposure

if TYPE_CHECKING:
    from pytest_actionsec.history.stores import HistoryStore

__all__ = ["POLL_MICROVERSION", "Server", "index", "reading", "show"]

#: The microversion a ``changes-since`` poller uses (2.58 added it; the newest has it).
POLL_MICROVERSION = "2.58"

_ROLES: dict[str, tuple[str, ...]] = {
    "member": ("member", "reader"),
    "admin": ("admin", "member", "reader"),
}


class Server:
    """A server of the machine's world: its uuid, its project and its owner."""

    def __init__(self, uuid: str, project_id: str, user_id: str) -> None:
        self.uuid = uuid
        self.project_id = project_id
        self.user_id = user_id

    def __repr__(self) -> str:
        return f"Server({self.uuid!r}, {self.project_id!r}, {self.user_id!r})"


class _Actions:
    """``InstanceActionAPI`` on a history store: rows made into nova's objects."""

    def __init__(self, nova: Any, store: HistoryStore) -> None:
        self._objects = nova.objects
        self._store = store

    def actions_get(
        self,
        context: Any,
        instance: Any,
        limit: int | None = None,
        marker: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Any:
        rows = self._store.actions_get(context, instance.uuid, limit, marker, filters)
        o = self._objects
        return o.base.obj_make_list(context, o.InstanceActionList(), o.InstanceAction, rows)

    def action_get_by_request_id(self, context: Any, instance: Any, request_id: str) -> Any:
        row = self._store.action_get_by_request_id(context, instance.uuid, request_id)
        if not row:
            return None
        action = self._objects.InstanceAction
        return action._from_db_object(context, action(), row)

    def action_events_get(self, context: Any, instance: Any, action_id: int) -> Any:
        rows = self._store.action_events_get(context, action_id)
        o = self._objects
        return o.base.obj_make_list(
            context, o.InstanceActionEventList(), o.InstanceActionEvent, rows
        )


_INSIDE: list[Any] = []


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """Read many times at the cost of one: nova's logging off, warnings silenced and its
    policy enforcer set up once for the whole block (each read otherwise does it, and
    turning logging off and on again clears every logger's cache: about 1 ms)."""
    if _INSIDE:
        yield
        return
    with exposure._rendering() as nova:
        _INSIDE.append(nova)
        try:
            yield
        finally:
            _INSIDE.pop()


def _call(
    method: str,
    store: HistoryStore,
    server: Server,
    role: str,
    microversion: str,
    path: str,
    *args: Any,
) -> Any:
    with reading():
        nova = _INSIDE[-1]
        version = exposure._version(nova, microversion)
        context = nova.context.RequestContext(
            user_id=server.user_id, project_id=server.project_id, roles=list(_ROLES[role])
        )
        req = nova.wsgi.Request.blank(path)
        req.api_version_request = version
        req.environ["nova.context"] = context
        instance = nova.objects.Instance(
            context, uuid=server.uuid, project_id=server.project_id, user_id=server.user_id
        )
        controller = nova.ActionsController(
            exposure._ComputeLookup(nova, instance), _Actions(nova, store)
        )
        body = inspect.unwrap(getattr(nova.ActionsController, method))(
            controller, req, server.uuid, *args
        )
        return exposure._wire(nova, body)


def index(
    store: HistoryStore,
    server: Server,
    *,
    role: str = "member",
    microversion: str = POLL_MICROVERSION,
    changes_since: str | None = None,
) -> list[dict[str, Any]]:
    """The server's ``instanceActions`` as a ``role`` of its project reads them."""
    query = f"?{urllib.parse.urlencode({'changes-since': changes_since})}" if changes_since else ""
    path = f"/v2.1/servers/{server.uuid}/os-instance-actions{query}"
    body = _call("index", store, server, role, microversion, path)
    return list(body["instanceActions"])


def show(
    store: HistoryStore,
    server: Server,
    request_id: str,
    *,
    role: str = "member",
    microversion: str = exposure.NEWEST_MICROVERSION,
) -> dict[str, Any]:
    """The ``instanceAction`` of ``request_id``, events included when ``role`` sees them."""
    path = f"/v2.1/servers/{server.uuid}/os-instance-actions/{request_id}"
    body = _call("show", store, server, role, microversion, path, request_id)
    result: dict[str, Any] = body["instanceAction"]
    return result
