"""Who reads a record: the personas nova's API is asked as, and the coarse levels.

Two tables, both narrowest first, are the one place audiences are ranked:

* :data:`LEVELS`, the coarse view (the summary, SARIF, baselines and
  ``--actionsec-min-severity``): ``stored`` (no one through the API), ``admin``
  (the operator's identities), ``bus`` (the services reading nova's notifications)
  and ``tenant`` (a project's users). A new level is one line here.
* :data:`PERSONAS`, the identities each stored row is rendered for through nova's
  API code (:mod:`pytest_actionsec.exposure`), each with its Keystone roles (implied
  roles included, as a token carries them: admin implies manager, member and reader),
  the project its token is scoped to, and its coarse level. These are the personas of
  nova's own policy tests (``nova/tests/unit/policies/base.py``): an admin of another
  (the admin) project, an admin, manager, member and reader of the server's project,
  a member and a reader of another project, and nova's ``service`` role.

How a persona maps to a level: one holding the ``admin`` role, or nova's ``service``
role (the deployment's own services: an operator's identities), is ``admin``; every
other persona (any non-admin user of the server's project or of another) is
``tenant``. A leak's coarse level is the level of the widest persona that reads it,
and ``stored`` when none does. Within a level, the table's order ranks a leak: one
another project reads is worse than one the server's own reader reads, which is
worse than one only its members read.

Core module: it imports nothing of the package, nova or pytest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ADMIN_PROJECT_ID",
    "LEVELS",
    "OTHER_PROJECT_ID",
    "PERSONAS",
    "PERSONA_NAMES",
    "SERVICE_PROJECT_ID",
    "SEVERITIES",
    "Persona",
    "audience_rank",
    "level_of",
    "level_rank",
    "ordered",
    "persona",
    "widest",
]

#: The coarse levels, narrowest first: (level, who reads a leak of that level).
LEVELS: tuple[tuple[str, str], ...] = (
    ("stored", "in the database; Nova's API shows this field to no one"),
    ("admin", "only admins and nova's service role read this field through Nova's API"),
    # what nova sends on the message bus: every service consuming its notifications
    # (telemetry, other projects' services) reads it, no tenant does (docs/notifications.md)
    ("bus", "the services consuming nova's notifications read it on the message bus"),
    ("tenant", "a project's user who is no admin reads this field through Nova's API"),
)

#: The coarse levels' names, narrowest first.
SEVERITIES: tuple[str, ...] = tuple(name for name, _ in LEVELS)

#: Projects other than the server's (the server's is ``exposure.SERVER_PROJECT_ID``).
ADMIN_PROJECT_ID = "actionsec-admin-project"
OTHER_PROJECT_ID = "actionsec-other-project"
SERVICE_PROJECT_ID = "actionsec-service-project"


@dataclass(frozen=True)
class Persona:
    """One identity a stored row is rendered for: a project-scoped Keystone token."""

    #: the name in reports (``project_reader``)
    name: str
    #: the token's roles, implied roles included
    roles: tuple[str, ...]
    #: ``server`` (the server's project), or the id of another project
    project: str
    #: its coarse level (a name of :data:`LEVELS`)
    level: str
    #: who it is, in words
    description: str

    @property
    def own_project(self) -> bool:
        """True when the token is scoped to the server's project."""
        return self.project == "server"


_ADMIN_ROLES = ("admin", "manager", "member", "reader")

#: Every persona, narrowest audience first (the order ranks leaks: see the module doc).
PERSONAS: tuple[Persona, ...] = (
    Persona("admin", _ADMIN_ROLES, ADMIN_PROJECT_ID, "admin", "an admin of the admin project"),
    Persona("service", ("service",), SERVICE_PROJECT_ID, "admin", "nova's service role"),
    Persona("project_admin", _ADMIN_ROLES, "server", "admin", "an admin of the server's project"),
    Persona(
        "project_manager",
        ("manager", "member", "reader"),
        "server",
        "tenant",
        "a manager of the server's project",
    ),
    Persona("project_member", ("member", "reader"), "server", "tenant", "a member of its project"),
    Persona("project_reader", ("reader",), "server", "tenant", "a reader of its project"),
    Persona(
        "other_project_member",
        ("member", "reader"),
        OTHER_PROJECT_ID,
        "tenant",
        "a member of another project",
    ),
    Persona(
        "other_project_reader", ("reader",), OTHER_PROJECT_ID, "tenant", "a reader of another one"
    ),
)

#: The personas' names, narrowest first.
PERSONA_NAMES: tuple[str, ...] = tuple(p.name for p in PERSONAS)

_BY_NAME = {p.name: p for p in PERSONAS}


def persona(name: str) -> Persona:
    """The persona called ``name`` (KeyError for another name)."""
    return _BY_NAME[name]


def level_rank(level: str | None) -> int:
    """0 for no level, then 1, 2, ... in :data:`LEVELS` order (``stored`` is 1)."""
    return SEVERITIES.index(level) + 1 if level in SEVERITIES else 0


def level_of(personas: Iterable[str]) -> str:
    """The coarse level of a leak ``personas`` read: the widest one's, ``stored`` for none."""
    widest_one = widest(personas)
    return _BY_NAME[widest_one].level if widest_one else "stored"


def widest(personas: Iterable[str]) -> str:
    """The widest of ``personas`` (the last in :data:`PERSONAS`), ``""`` for none."""
    known = [name for name in personas if name in _BY_NAME]
    return max(known, key=PERSONA_NAMES.index) if known else ""


def audience_rank(level: str | None, personas: Iterable[str] = ()) -> tuple[int, int]:
    """How wide a leak's audience is, to sort by: its coarse level first, then its widest
    persona (a leak another project reads before one only the server's members read)."""
    widest_one = widest(personas)
    return (level_rank(level), PERSONA_NAMES.index(widest_one) + 1 if widest_one else 0)


def ordered(personas: Iterable[str]) -> tuple[str, ...]:
    """``personas`` (known names only) in :data:`PERSONAS` order, each once."""
    chosen = set(personas)
    return tuple(name for name in PERSONA_NAMES if name in chosen)
