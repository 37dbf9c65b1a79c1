"""Records whose values fight back: repr/str/eq/hash raise, huge text, self-reference.

(A str subclass whose ``encode``, ``__len__`` or ``__str__`` raises is judged by the
text it holds: ``tests/test_oracle.py``, ``test_str_subclass_*``.)
"""

from __future__ import annotations

from typing import Any

from tests.robust_targets._wrap import (
    SAFE_HELPERS,
    add_instance_fault_from_exc,
    after,
    serialize_args,
)

__all__ = [*SAFE_HELPERS, "add_instance_fault_from_exc", "serialize_args"]


class Hostile:
    """Every dunder the oracle might use raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __bool__(self) -> bool:
        raise RuntimeError("bool")

    def __len__(self) -> int:
        raise RuntimeError("len")

    def __iter__(self) -> Any:
        raise RuntimeError("iter")


class HostileStr(str):
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = str.__hash__


def _loop() -> list[Any]:
    box: list[Any] = []
    box.append(box)
    return box


pack_action_start = after("pack_action_start", lambda r: {**r, "action": Hostile()})
pack_action_finish = after("pack_action_finish", lambda r: {**r, "request_id": HostileStr("x")})
pack_action_event_start = after("pack_action_event_start", lambda r: {**r, "host": "h" * 10**7})
pack_action_event_finish = after("pack_action_event_finish", lambda r: {**r, "details": _loop()})

# the safe notification sink: only the change above differs from a correct fork
from tests.robust_targets._wrap import notify_about_instance_action  # noqa: E402, F401
