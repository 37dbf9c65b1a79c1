"""Canaries: unguessable markers planted where text must never be stored.

A :class:`Canary` is a token plus where it was planted and which stored fields
may legitimately hold it (a context's ``user_id`` belongs in ``user_id`` and
nowhere else). :func:`find_canaries` looks for tokens raw and in the forms code
turns text into: repr/escaped, JSON-escaped, base64 (standard and URL-safe,
any alignment), URL-encoded, hex, case-folded, and cut to a prefix of at least
eight characters.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "Canary",
    "CanaryBox",
    "CanaryHit",
    "find_canaries",
    "new_canary",
    "planted_canaries",
    "register_planted",
    "render_text",
]

MIN_PREFIX = 8
_PREFIX = "cnry"


@dataclass(frozen=True)
class Canary:
    """A planted secret: ``token``, where it came from, and where it may be stored."""

    token: str
    origin: str
    allowed_fields: frozenset[str] = frozenset()

    @property
    def secret(self) -> bool:
        """True when no stored field may hold it (it must not be logged either)."""
        return not self.allowed_fields


@dataclass(frozen=True)
class CanaryHit:
    """A canary found in ``where`` (a field name or ``log``) in ``encoding``."""

    canary: Canary
    where: str
    encoding: str

    def describe(self) -> str:
        """One line for humans."""
        return (
            f"canary from {self.canary.origin} ({self.canary.token!r}) found in "
            f"{self.where} as {self.encoding}"
        )


_counter = itertools.count()


def new_canary(origin: str, *, allowed: Iterable[str] = (), token: str | None = None) -> Canary:
    """Make a fresh, unique canary unless ``token`` is given.

    Tokens are 12 random hex digits, ``cnry`` and a 4-digit counter: the first
    eight characters (what a prefix match looks for) carry 32 random bits.
    """
    if token is None:
        token = f"{secrets.token_hex(6)}{_PREFIX}{next(_counter) % 65536:04x}"
    return Canary(token=token, origin=origin, allowed_fields=frozenset(allowed))


def _b64_fragments(data: bytes, urlsafe: bool) -> list[str]:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    out = []
    for pad in range(3):
        enc = encode(b"\x00" * pad + data).decode("ascii").rstrip("=")
        start = 4 if pad else 0
        end = len(enc) - (((pad + len(data)) % 3 and 4) or 0)
        frag = enc[start:end]
        if len(frag) >= MIN_PREFIX:
            out.append(frag)
    return out


@lru_cache(maxsize=8192)
def _forms(token: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """(case-sensitive forms, case-folded forms) as (encoding, needle) pairs."""
    raw = token.encode("utf-8", "surrogatepass")
    exact: dict[str, str] = {}
    exact["repr"] = repr(token)[1:-1]
    exact["unicode-escape"] = token.encode("unicode_escape").decode("ascii")
    exact["json"] = json.dumps(token, ensure_ascii=False)[1:-1]
    exact["json-ascii"] = json.dumps(token, ensure_ascii=True)[1:-1]
    exact["url"] = quote(token, safe="")
    exact["url-plus"] = quote_plus(token)
    for i, frag in enumerate(_b64_fragments(raw, urlsafe=False)):
        exact[f"base64[{i}]"] = frag
    for i, frag in enumerate(_b64_fragments(raw, urlsafe=True)):
        exact[f"base64url[{i}]"] = frag
    folded: dict[str, str] = {
        "raw (any case)": token.casefold(),
        "hex": raw.hex(),
    }
    if len(token) > MIN_PREFIX:
        folded[f"prefix[{MIN_PREFIX}]"] = token[:MIN_PREFIX].casefold()
    seen = {token.casefold()}
    exact_pairs = []
    for name, needle in exact.items():
        if needle and needle != token and needle not in seen:
            seen.add(needle)
            exact_pairs.append((name, needle))
    return tuple(exact_pairs), tuple(folded.items())


def find_canaries(
    text: str, canaries: Iterable[Canary], *, where: str = "value"
) -> list[CanaryHit]:
    """Every canary of ``canaries`` present in ``text`` (first matching encoding each).

    Canaries allowed in ``where`` are skipped.
    """
    hits: list[CanaryHit] = []
    if not text:
        return hits
    folded_text: str | None = None
    for canary in canaries:
        if where in canary.allowed_fields:
            continue
        token = canary.token
        if token in text:
            hits.append(CanaryHit(canary, where, "raw"))
            continue
        exact, folded = _forms(token)
        found = None
        for name, needle in exact:
            if needle in text:
                found = name
                break
        if found is None:
            if folded_text is None:
                folded_text = text.casefold()
            for name, needle in folded:
                if needle in folded_text:
                    found = name
                    break
        if found is not None:
            hits.append(CanaryHit(canary, where, found))
    return hits


def render_text(value: Any) -> str:
    """Text a stored value would show: str as is; bytes decoded; objects str() and repr().

    A str subclass is the text it holds (``str.__str__`` copies it without calling
    the subclass's own, possibly raising, methods): that is what a database stores.
    """
    if issubclass(type(value), str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace") + "\n" + bytes(value).decode("latin-1")
    if value is None or isinstance(value, (int, float, bool)):
        return str(value)
    parts = []
    for fn in (str, repr):
        try:
            rendered = fn(value)
        except Exception:
            continue
        if isinstance(rendered, str):
            parts.append(rendered)
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# A registry so objects built by the public strategies carry their canaries.
#
# It keeps no object alive and never credits an object with the canaries of a
# dead one whose id it reuses. Entries are keyed by ``id`` and hold a proof of
# identity that a lookup checks:
#
# * an object with weak-reference support (an instance of a Python class, nova's
#   RequestContext and exception classes included) has a ``weakref.ref``, whose
#   callback drops the entry when the object dies: such entries live exactly as
#   long as their object and need no bound;
# * an object without it but with an instance dict (the built-in exceptions:
#   ``ValueError()`` cannot be weakly referenced) has its ``__dict__`` held, not
#   the object: the exception, its traceback, frames and their locals can die,
#   and while the dict is held no other object can have it, so the check
#   ``obj.__dict__ is held`` cannot pass for a newcomer (bounded, most recent kept);
# * anything else (bytes, a tuple, a ``__slots__`` instance) is held itself,
#   bounded: alive, its id cannot be reused.

_WEAK: dict[int, tuple[weakref.ref[Any], tuple[Canary, ...]]] = {}
#: id -> (proof, proof is the object's __dict__ rather than the object, canaries)
_HELD: OrderedDict[int, tuple[Any, bool, tuple[Canary, ...]]] = OrderedDict()
_HELD_MAX = 4096


def _forget(key: int) -> Callable[[weakref.ref[Any]], None]:
    def callback(ref: weakref.ref[Any]) -> None:
        entry = _WEAK.get(key)
        if entry is not None and entry[0] is ref:  # not a newer object's entry
            _WEAK.pop(key, None)

    return callback


def _instance_dict(obj: Any) -> dict[str, Any] | None:
    try:
        found = object.__getattribute__(obj, "__dict__")
    except Exception:
        return None
    return found if type(found) is dict else None


def register_planted(obj: Any, canaries: Iterable[Canary]) -> None:
    """Remember which canaries were planted in ``obj``, without keeping it alive."""
    found = tuple(canaries)
    if not found:
        return
    key = id(obj)
    try:
        ref = weakref.ref(obj, _forget(key))
    except TypeError:
        _WEAK.pop(key, None)  # a dead object's (its callback runs before the id is reused)
        held = _instance_dict(obj)
        if held is None or _instance_dict(obj) is not held:
            _HELD[key] = (obj, False, found)
        else:
            _HELD[key] = (held, True, found)
        _HELD.move_to_end(key)
        while len(_HELD) > _HELD_MAX:
            _HELD.popitem(last=False)
        return
    _HELD.pop(key, None)  # a dead object's
    _WEAK[key] = (ref, found)


def _registered(obj: Any) -> tuple[Canary, ...]:
    key = id(obj)
    weak = _WEAK.get(key)
    if weak is not None and weak[0]() is obj:
        return weak[1]
    held = _HELD.get(key)
    if held is not None:
        proof, is_dict, found = held
        if proof is (_instance_dict(obj) if is_dict else obj):
            return found
    return ()


def _walk(obj: Any, seen: set[int]) -> Iterator[Any]:
    if obj is None or id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    if isinstance(obj, BaseException):
        yield from _walk(obj.__cause__, seen)
        yield from _walk(obj.__context__, seen)


def planted_canaries(*objs: Any) -> tuple[Canary, ...]:
    """Canaries registered for ``objs`` and the exceptions chained to them."""
    out: list[Canary] = []
    seen: set[int] = set()
    for obj in objs:
        for item in _walk(obj, seen):
            out.extend(_registered(item))
    return tuple(dict.fromkeys(out))


class CanaryBox:
    """Plant canaries, then check that none leaked (the ``actionsec_canaries`` fixture)."""

    def __init__(self) -> None:
        self.canaries: list[Canary] = []

    def plant(self, origin: str, *, allowed: Iterable[str] = (), token: str | None = None) -> str:
        """Make a canary for ``origin`` (e.g. ``"context.auth_token"``) and return its token."""
        canary = new_canary(origin, allowed=allowed, token=token)
        self.canaries.append(canary)
        return canary.token

    def find(self, value: Any, *, where: str = "value") -> list[CanaryHit]:
        """Planted canaries present in ``value``; a mapping is searched field by field."""
        if isinstance(value, dict):
            hits: list[CanaryHit] = []
            for key, item in value.items():
                hits.extend(find_canaries(render_text(item), self.canaries, where=str(key)))
            return hits
        return find_canaries(render_text(value), self.canaries, where=where)

    def assert_none_leaked(self, *values: Any, logs: Iterable[str] = ()) -> None:
        """Raise AssertionError naming every canary found, where, and in which encoding."""
        hits: list[CanaryHit] = []
        for value in values:
            hits.extend(self.find(value))
        for i, line in enumerate(logs):
            hits.extend(
                find_canaries(line, [c for c in self.canaries if c.secret], where=f"log[{i}]")
            )
        if hits:
            raise AssertionError(
                f"{len(hits)} planted canar{'y' if len(hits) == 1 else 'ies'} leaked:\n"
                + "\n".join("  " + hit.describe() for hit in hits)
            )
