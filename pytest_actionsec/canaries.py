"""Canaries: unguessable markers planted where text must never be stored.

A :class:`Canary` is a token plus where it was planted and which stored fields
may legitimately hold it (a context's ``user_id`` belongs in ``user_id`` and
nowhere else). :func:`find_canaries` looks for tokens raw and in the forms code
turns text into: repr/escaped, JSON-escaped, base64 (standard and URL-safe,
any alignment), URL-encoded, hex, case-folded; and for *fragments*: any slice
of at least :data:`MIN_FRAGMENT` characters (a prefix, a suffix or an inner
slice) in the same forms.

Why 12 (:data:`MIN_FRAGMENT`): a token is 12 random hex digits, ``cnry`` and 4
random hex digits (64 random bits), so every 12-character slice holds at least
8 random digits (32 bits; at most the 4 marker characters are fixed). The 9
slices of a token are attributable to it alone, and a field not derived from it
matches by chance with probability:

* hex text (digests, uuids, ``req-`` ids): only the two slices without ``n``,
  ``r``, ``y`` can match, 2 x 16**-12 ~ 7e-15 per position: ~2e-12 for a
  255-character field, ~5e-10 for a 64 KiB traceback;
* another canary of the same record (an id in its own field): the marker pins
  the alignment, about 5 x 16**-8 ~ 1.2e-9 per pair of canaries;
* nova's own text (class names, messages, tracebacks): slices need ``cn``,
  ``cnr`` or ``cnry`` amid hex digits or a 12-digit hex run: as above;
* any text, any form (union bound, about 2**-32 per needle and position): a
  255-character field and the 72 needles of a hex token give ~4e-6 per canary.

Shorter does not hold: at 11 a slice may hold 7 random digits (16 times the
risk); at 8 (the old prefix length) ``cnry`` and 4 digits, 1 in 65,536 per pair
of canaries in one record. The last 4 digits used to be a counter, whose leading
digits consecutive canaries share (a slice ending in it held 20 random bits).

Fragments are searched where a slice survives the encoding: raw, case-folded,
repr/unicode-escape, JSON, URL and hex encode character by character, so the
encoded slice is a substring of the encoded text; base64 does not, so each
slice is searched as the base64 characters that depend on its bytes alone, at
the 3 byte alignments (a longer fragment contains a 12-character slice at some
alignment; at alignments 1 and 2 the edge characters share bits with the
neighbours, so a hit proves 90 of the slice's 96 bits). Not covered: fragments
of a token of at most 12 characters (searched whole), base64 of a non-UTF-8
encoding or broken by line wrapping, forms stacked on each other (hex of base64).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import secrets
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_FRAGMENT",
    "Canary",
    "CanaryBox",
    "CanaryHit",
    "find_canaries",
    "new_canary",
    "planted_canaries",
    "register_planted",
    "render_text",
    "seeded_canaries",
]

#: Shortest slice of a token reported as a fragment (see the module docstring).
MIN_FRAGMENT = 12
_MARKER = "cnry"
# base64 needles of the whole token shorter than this are not searched
_MIN_B64 = 8


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
    """A canary found in ``where`` (a field name or ``log``) in ``encoding``.

    ``fragment`` is the (start, end) slice of the token found, None for the whole.
    """

    canary: Canary
    where: str
    encoding: str
    fragment: tuple[int, int] | None = None

    def describe(self) -> str:
        """One line for humans."""
        what = "canary"
        if self.fragment is not None:
            start, end = self.fragment
            size = len(self.canary.token)
            if start == 0:
                span = f"first {end} of {size} chars"
            elif end == size:
                span = f"last {end - start} of {size} chars"
            else:
                span = f"chars {start + 1}-{end} of {size}"
            what = f"fragment ({span}) of canary"
        return (
            f"{what} from {self.canary.origin} ({self.canary.token!r}) found in "
            f"{self.where} as {self.encoding}"
        )


class _Stream:
    """The token material of one seeded run: HMAC-SHA256 of a counter under a key."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.count = 0

    def next_hex(self) -> str:
        digest = hmac.new(self.key, self.count.to_bytes(8, "big"), hashlib.sha256).hexdigest()
        self.count += 1
        return digest


_STREAM: ContextVar[_Stream | None] = ContextVar("actionsec_canary_stream", default=None)


def _stream(parts: tuple[object, ...]) -> _Stream:
    material = "\x00".join(["pytest-actionsec canaries", *map(repr, parts)])
    return _Stream(hashlib.sha256(material.encode("utf-8")).digest())


@contextlib.contextmanager
def seeded_canaries(*parts: object) -> Iterator[None]:
    """Inside the block, :func:`new_canary` makes its tokens from ``parts`` (a run's seed
    and what names the run), not from the operating system's randomness.

    The n-th token made in the block is HMAC-SHA256(key, n) with the key derived
    from ``parts``: the same run (same seed, same sequence of draws) plants the same
    tokens, every token of the block is distinct, and code that never sees the seed
    cannot guess one. Blocks nest (the innermost wins) and are per thread/task.
    """
    reset = _STREAM.set(_stream(parts))
    try:
        yield
    finally:
        _STREAM.reset(reset)


def new_canary(origin: str, *, allowed: Iterable[str] = (), token: str | None = None) -> Canary:
    """Make a fresh, unique canary unless ``token`` is given.

    Tokens are 12 random hex digits, ``cnry`` and 4 random hex digits: every
    slice of :data:`MIN_FRAGMENT` characters carries at least 32 random bits.
    Inside :func:`seeded_canaries` the digits come from the run's seed (a seeded
    run plants the same tokens again), elsewhere from :mod:`secrets`.
    """
    if token is None:
        stream = _STREAM.get()
        if stream is None:
            token = f"{secrets.token_hex(6)}{_MARKER}{secrets.token_hex(2)}"
        else:
            digits = stream.next_hex()
            token = f"{digits[:12]}{_MARKER}{digits[12:16]}"
    return Canary(token=token, origin=origin, allowed_fields=frozenset(allowed))


# ---------------------------------------------------------------------------
# Search.


def _b64_span(encoded: str, align: int, start: int, end: int) -> str:
    """The characters of ``encoded`` (base64 of ``align`` bytes then data) that
    depend on data bytes ``start:end`` alone, whatever surrounds them."""
    return encoded[-(-8 * (align + start) // 6) : 8 * (align + end) // 6]


def _b64_inner(data: bytes, align: int, urlsafe: bool) -> str:
    """The base64 characters that depend on ``data`` alone when it starts ``align``
    bytes into a 3-byte group."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return _b64_span(encode(b"\x00" * align + data).decode("ascii"), align, 0, len(data))


def _repr_char(ch: str) -> str:
    return "\\'" if ch == "'" else repr(ch)[1:-1]


#: (encoding, searched case-folded, how one character is encoded); the forms
#: that encode character by character, so that a slice's form is a substring
#: of the token's
_CHAR_FORMS: tuple[tuple[str, bool, Callable[[str], str]], ...] = (
    ("raw", False, str),
    ("repr", False, _repr_char),  # quoted with ' (it is escaped) ...
    ("repr", False, lambda ch: repr(ch)[1:-1]),  # ... or with " (the text held ' only)
    ("unicode-escape", False, lambda ch: ch.encode("unicode_escape").decode("ascii")),
    ("json", False, lambda ch: json.dumps(ch, ensure_ascii=False)[1:-1]),
    ("json-ascii", False, lambda ch: json.dumps(ch, ensure_ascii=True)[1:-1]),
    ("url", False, lambda ch: quote(ch, safe="")),
    ("url-plus", False, quote_plus),
    ("raw (any case)", True, str.casefold),
    ("hex", True, lambda ch: _utf8(ch).hex()),
)
_RAW, _ANY_CASE, _HEX = (
    next(k for k, form in enumerate(_CHAR_FORMS) if form[0] == name)
    for name in ("raw", "raw (any case)", "hex")
)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@lru_cache(maxsize=4096)
def _char_forms(ch: str) -> tuple[str | None, ...]:
    """``ch`` in each of :data:`_CHAR_FORMS` (None where it cannot be encoded)."""
    out: list[str | None] = []
    for _, _, encode in _CHAR_FORMS:
        try:
            out.append(encode(ch))
        except (UnicodeEncodeError, ValueError):
            out.append(None)
    return tuple(out)


def _encode_chars(form: int, text: str) -> str:
    return "".join(_char_forms(ch)[form] or "" for ch in text)


class _Group(NamedTuple):
    """A token in one form: its whole needles and, lazily, its slices.

    The whole token and each slice contain one of ``anchors`` (in this form), so
    a text without any anchor is passed over with a few substring tests; the
    slices are only encoded when an anchor is found (:func:`_slices`).
    """

    encoding: str
    folded: bool
    anchors: tuple[str, ...]
    #: (encoding, needle) of the whole token
    whole: tuple[tuple[str, str], ...]
    #: index in :data:`_CHAR_FORMS`, or -1 for base64 (see ``urlsafe``)
    form: int = -1
    urlsafe: bool = False
    #: "raw" when the raw form is searched with this one (a lower-case token's)
    exact_name: str | None = None


def _anchor_spans(size: int) -> list[tuple[int, int]]:
    """Character spans such that every slice of MIN_FRAGMENT characters holds one."""
    if 2 * MIN_FRAGMENT > size:  # every slice holds the middle
        return [(size - MIN_FRAGMENT, MIN_FRAGMENT)]
    width = (MIN_FRAGMENT + 1) // 2
    step = MIN_FRAGMENT - width + 1
    return [(j, j + width) for j in range(0, size - width + 1, step)]


_URLSAFE = str.maketrans("+/", "-_")


@lru_cache(maxsize=8192)
def _groups(token: str) -> tuple[_Group, ...]:
    """``token``'s forms in search order: case-sensitive, base64, case-folded."""
    size = len(token)
    sliced = size > MIN_FRAGMENT
    spans = _anchor_spans(size) if sliced else [(0, size)]
    exact: list[_Group] = []
    folded: list[_Group] = []
    if token.isascii() and token.isalnum():
        # the tokens new_canary makes: only these forms differ from raw
        lower = token.lower()
        if lower != token:
            anchors = tuple(token[a:b] for a, b in spans)
            exact.append(_Group("raw", False, anchors, (), _RAW))
        folded.append(
            _Group(
                "raw (any case)",
                True,
                tuple(lower[a:b] for a, b in spans),
                (("raw (any case)", lower),),
                _ANY_CASE,
                exact_name="raw" if lower == token else None,
            )
        )
        hexed = token.encode("ascii").hex()
        anchors = tuple(hexed[2 * a : 2 * b] for a, b in spans)
        folded.append(_Group("hex", True, anchors, (("hex", hexed),), _HEX))
        offsets: Sequence[int] = range(size + 1)
    else:
        _char_groups(token, spans, exact, folded)
        offsets = list(itertools.accumulate((len(_utf8(ch)) for ch in token), initial=0))
    data = _utf8(token)
    std = [base64.b64encode(b"\x00" * align + data).decode("ascii") for align in range(3)]
    for name, urlsafe in (("base64", False), ("base64url", True)):
        if urlsafe:
            if not any("+" in enc or "/" in enc for enc in std):
                continue  # the same needles as standard base64
            encs = [enc.translate(_URLSAFE) for enc in std]
        else:
            encs = std
        whole = tuple(
            (f"{name}[{align}]", needle)
            for align, enc in enumerate(encs)
            if len(needle := _b64_span(enc, align, 0, len(data))) >= _MIN_B64
        )
        if sliced:
            anchors = tuple(
                dict.fromkeys(
                    _b64_span(enc, align, offsets[a], offsets[b])
                    for a, b in spans
                    for align, enc in enumerate(encs)
                )
            )
        elif whole:
            anchors = tuple(needle for _, needle in whole)
        else:
            continue
        exact.append(_Group(name, False, anchors, whole, urlsafe=urlsafe))
    return (*exact, *folded)


def _char_groups(
    token: str, spans: list[tuple[int, int]], exact: list[_Group], folded: list[_Group]
) -> None:
    """The character-by-character forms of any token (one group per distinct form)."""
    lower = all(ch.casefold() == ch for ch in token)
    seen: set[tuple[bool, tuple[str | None, ...]]] = set()
    for k, (name, fold, _) in enumerate(_CHAR_FORMS):
        column = tuple(_char_forms(ch)[k] for ch in token)
        if None in column or (fold, column) in seen:
            continue
        seen.add((fold, column))
        if name == "raw" and lower:
            continue  # the case-folded search finds it (and names it raw)
        anchors = tuple(dict.fromkeys(_encode_chars(k, token[a:b]) for a, b in spans))
        whole = () if name == "raw" else ((name, _encode_chars(k, token)),)
        (folded if fold else exact).append(
            _Group(
                name,
                fold,
                anchors,
                whole,
                k,
                exact_name="raw" if lower and name == "raw (any case)" else None,
            )
        )


def _needle(group: _Group, token: str, start: int, end: int, align: int) -> str:
    if group.form >= 0:
        return _encode_chars(group.form, token[start:end])
    return _b64_inner(_utf8(token[start:end]), align, group.urlsafe)


@lru_cache(maxsize=1024)
def _slices(group: _Group, token: str) -> tuple[tuple[int, int, str], ...]:
    """(first character, byte alignment (base64 only), needle) of every slice."""
    aligns = range(1) if group.form >= 0 else range(3)
    return tuple(
        (i, align, _needle(group, token, i, i + MIN_FRAGMENT, align))
        for i in range(len(token) - MIN_FRAGMENT + 1)
        for align in aligns
    )


def _grow(group: _Group, token: str, text: str, start: int, align: int) -> tuple[int, int, int]:
    """The slice found at ``start`` widened while the wider slice is in ``text`` too."""
    end = start + MIN_FRAGMENT
    while end < len(token) and _needle(group, token, start, end + 1, align) in text:
        end += 1
    while start > 0:
        back = (align - len(_utf8(token[start - 1]))) % 3
        if _needle(group, token, start - 1, end, back) not in text:
            break
        start, align = start - 1, back
    return start, end, align


def _search(
    token: str, groups: list[_Group], text: str, folded_text: str
) -> tuple[str, tuple[int, int] | None] | None:
    """(encoding, fragment) of the first form of ``token`` in the text, whole ones first."""
    for group in groups:
        space = folded_text if group.folded else text
        for name, needle in group.whole:
            if needle in space:
                return name, None
    if len(token) <= MIN_FRAGMENT:
        return None
    # raw first: a lower-case token's raw slices are searched with its case-folded ones
    raw = [(g._replace(folded=False), "raw") for g in groups if g.exact_name]
    for group, name in [*raw, *((g, g.encoding) for g in groups)]:
        space = folded_text if group.folded else text
        for start, align, needle in _slices(group, token):
            if needle not in space:
                continue
            start, end, align = _grow(group, token, space, start, align)
            if start == 0 and end == len(token):
                fragment = None  # the whole token, in a form its own needle misses
            else:
                fragment = (start, end)
            return (f"{name}[{align}]" if group.form < 0 else name), fragment
    return None


def find_canaries(
    text: str, canaries: Iterable[Canary], *, where: str = "value"
) -> list[CanaryHit]:
    """Every canary of ``canaries`` present in ``text`` (first matching encoding each).

    The whole token is looked for first, in every form, then its fragments
    (slices of at least :data:`MIN_FRAGMENT` characters). Canaries allowed in
    ``where`` are skipped.
    """
    hits: list[CanaryHit] = []
    if not text:
        return hits
    folded_text = ""
    for canary in canaries:
        if where in canary.allowed_fields:
            continue
        token = canary.token
        if token in text:
            hits.append(CanaryHit(canary, where, "raw"))
            continue
        present: list[_Group] = []
        for group in _groups(token):
            if group.folded:
                if not folded_text:
                    folded_text = text.casefold()
                space = folded_text
            else:
                space = text
            for anchor in group.anchors:
                if anchor in space:
                    present.append(group)
                    break
        if present:
            found = _search(token, present, text, folded_text)
            if found is not None:
                hits.append(CanaryHit(canary, where, *found))
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
    """Plant canaries, then check that none leaked (the ``actionsec_canaries`` fixture).

    With ``seed`` (the fixture passes the run's seed and the test's node id) the
    tokens are made from it, as in :func:`seeded_canaries`.
    """

    def __init__(self, *, seed: tuple[object, ...] | None = None) -> None:
        self.canaries: list[Canary] = []
        self._stream = None if seed is None else _stream(("box", *seed))

    def plant(self, origin: str, *, allowed: Iterable[str] = (), token: str | None = None) -> str:
        """Make a canary for ``origin`` (e.g. ``"context.auth_token"``) and return its token."""
        if token is None and self._stream is not None:
            digits = self._stream.next_hex()
            token = f"{digits[:12]}{_MARKER}{digits[12:16]}"
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
