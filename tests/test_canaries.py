"""Unit tests for pytest_actionsec.canaries: planting and encoding-aware detection."""

from __future__ import annotations

import base64
import datetime
import gc
import hashlib
import json
import re
import traceback
import uuid
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_actionsec import canaries as canaries_module
from pytest_actionsec.canaries import (
    MIN_FRAGMENT,
    Canary,
    CanaryHit,
    find_canaries,
    new_canary,
    planted_canaries,
    register_planted,
    render_text,
)

# A token whose encodings all differ from it: non-ASCII, a slash, a space, a plus,
# an ampersand and control characters, all inside its first slice of MIN_FRAGMENT.
SPECIAL = "cnry\u00e9\u4e2d/ +x&y\n\tz0123"


def _b64(urlsafe: bool) -> Callable[[str], str]:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return lambda text: encode(text.encode("utf-8")).decode("ascii")


#: encoding name -> how code turns a whole text (with the secret inside) into text
ENCODERS: dict[str, Callable[[str], str]] = {
    "raw": lambda t: t,
    "repr": lambda t: repr(t),
    "unicode-escape": lambda t: t.encode("unicode_escape").decode("ascii"),
    "json": lambda t: json.dumps(t),
    "url": lambda t: quote(t, safe=""),
    "url-plus": quote_plus,
    "base64": _b64(urlsafe=False),
    "base64url": _b64(urlsafe=True),
    "hex": lambda t: t.encode("utf-8").hex(),
    "HEX": lambda t: t.encode("utf-8").hex().upper(),
    "upper": str.upper,
    "swapcase": str.swapcase,
}

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


def _found(text: str, canary: Canary, where: str = "value") -> list[CanaryHit]:
    return find_canaries(text, [canary], where=where)


# ---------------------------------------------------------------------------
# new_canary


def test_new_canary_tokens_are_unique_and_shaped() -> None:
    tokens = {new_canary("t").token for _ in range(500)}
    assert len(tokens) == 500
    for token in tokens:
        assert re.fullmatch(r"[0-9a-f]{12}cnry[0-9a-f]{4}", token), token


def test_new_canary_allowed_and_secret() -> None:
    secret = new_canary("context.auth_token")
    allowed = new_canary("context.user_id", allowed=["user_id"])
    assert secret.secret and secret.allowed_fields == frozenset()
    assert not allowed.secret and allowed.allowed_fields == frozenset({"user_id"})
    assert allowed.origin == "context.user_id"
    assert new_canary("x", token="given-token-123").token == "given-token-123"


def test_new_canary_slices_are_attributable() -> None:
    """No slice of MIN_FRAGMENT characters of one fresh canary is found in another's token."""
    batch = [new_canary("t") for _ in range(200)]
    for i, canary in enumerate(batch):
        others = batch[:i] + batch[i + 1 :]
        assert find_canaries(canary.token, others, where="user_id") == []


def test_tokens_sharing_a_slice_are_confused_and_one_less_is_not() -> None:
    """Why each canary needs its own random material: a shared slice is a hit."""
    user = new_canary("context.user_id", allowed=["user_id"], token="0123456789abcnryffff")
    near = new_canary("context.auth_token", token="x123456789abzzzzzzzz")  # shares 11
    same = new_canary("context.auth_token", token="y123456789abczzzzzzz")  # shares 12
    hits = find_canaries(user.token, [user, near, same], where="user_id")
    assert [(h.canary, h.encoding, h.fragment) for h in hits] == [(same, "raw", (1, 13))]


# ---------------------------------------------------------------------------
# Detection, encoding by encoding.


@pytest.mark.parametrize("token", ["default", SPECIAL], ids=["hex-token", "special-token"])
@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_found_in_every_encoding(encoding: str, token: str) -> None:
    canary = new_canary("t") if token == "default" else new_canary("t", token=token)
    text = ENCODERS[encoding]("connection failed: " + canary.token + " at db.internal")
    hits = _found(text, canary)
    assert len(hits) == 1, (encoding, text)
    assert hits[0].canary is canary and hits[0].where == "value"


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("raw", "raw"),
        ("repr", "repr"),
        ("unicode-escape", "unicode-escape"),
        ("json", "json-ascii"),
        ("url", "url"),
        ("url-plus", "url-plus"),
        ("hex", "hex"),
        ("HEX", "hex"),
        ("upper", "raw (any case)"),
    ],
)
def test_encoding_is_named(encoding: str, expected: str) -> None:
    canary = new_canary("t", token=SPECIAL)
    hits = _found(ENCODERS[encoding](SPECIAL), canary)
    assert [h.encoding for h in hits] == [expected]


# 0x7e bytes give the 6-bit value 62 ('+' or '-') at every alignment
B64_TOKEN = "cnry~~~~~~~~~~~~0123"


@pytest.mark.parametrize("urlsafe", [False, True], ids=["std", "urlsafe"])
@pytest.mark.parametrize("alignment", [0, 1, 2])
@pytest.mark.parametrize("token", ["default", SPECIAL], ids=["hex-token", "special-token"])
def test_base64_any_alignment_inside_larger_text(urlsafe: bool, alignment: int, token: str) -> None:
    canary = new_canary("t") if token == "default" else new_canary("t", token=token)
    data = b"\xfb\xff" * 4 + b"x" * alignment + canary.token.encode() + b"\xfb\xff" * 5
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = "payload=" + encode(data).decode("ascii") + ";"
    hits = _found(text, canary)
    assert len(hits) == 1
    assert hits[0].encoding.startswith("base64")


@pytest.mark.parametrize("urlsafe", [False, True], ids=["std", "urlsafe"])
@pytest.mark.parametrize("alignment", [0, 1, 2])
def test_base64_alphabets_are_told_apart(urlsafe: bool, alignment: int) -> None:
    canary = new_canary("t", token=B64_TOKEN)
    # 0xfb/0xff bytes make '+'/'/' differ from '-'/'_' in the surroundings
    data = b"\xfb\xff" * 4 + b"x" * alignment + canary.token.encode() + b"\xfb\xff" * 5
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = "payload=" + encode(data).decode("ascii") + ";"
    hits = _found(text, canary)
    assert len(hits) == 1
    assert hits[0].encoding.startswith("base64url[" if urlsafe else "base64[")


# ---------------------------------------------------------------------------
# Fragments: slices of at least MIN_FRAGMENT characters.


def test_every_minimal_slice_carries_32_random_bits() -> None:
    """The arithmetic of the module docstring: 12 random digits, cnry, 4 random digits."""
    token = new_canary("t").token
    marker = range(12, 16)
    for start in range(len(token) - MIN_FRAGMENT + 1):
        random_digits = [i for i in range(start, start + MIN_FRAGMENT) if i not in marker]
        assert len(random_digits) * 4 >= 32, start


#: where a minimal slice is cut from a 20-character token, and how a hit names it
CUTS = {
    "prefix": (0, f"first {MIN_FRAGMENT} of 20 chars"),
    "suffix": (20 - MIN_FRAGMENT, f"last {MIN_FRAGMENT} of 20 chars"),
    "middle": (4, f"chars 5-{4 + MIN_FRAGMENT} of 20"),
}

#: encoder -> the encoding a hit on a fragment of a default (hex) token names
FRAGMENT_ENCODINGS = {
    "raw": "raw",
    "upper": "raw (any case)",
    "swapcase": "raw (any case)",
    "hex": "hex",
    "HEX": "hex",
    "json": "raw",  # a hex token's slice is its own JSON, repr and URL form
    "url": "raw",
    "repr": "raw",
}


def _embedded_bytes(piece: str, align: int) -> bytes:
    """``piece`` starting ``align`` bytes into a base64 group, amid bytes whose bits
    that share a base64 character with it (low 4 or 6 bits before, high 4 or 6
    after) differ from those of every character of the test tokens."""
    return b"\xfb\xff" * 3 + b"\x8c" * align + piece.encode() + b"\xfb\xff" * 4


# A neighbour of a slice that no encoder turns into a hex digit or a token character
# ("<" would be "%3C" in URLs: its "C" could extend a slice by one character).
SEP = "_"


@pytest.mark.parametrize("encoder", sorted(FRAGMENT_ENCODINGS))
@pytest.mark.parametrize("cut", sorted(CUTS))
def test_minimal_fragment_found_and_described(cut: str, encoder: str) -> None:
    canary = new_canary("context.auth_token")
    start, span = CUTS[cut]
    piece = canary.token[start : start + MIN_FRAGMENT]
    text = ENCODERS[encoder](f"debug: token{SEP}{piece}{SEP} (truncated)")
    hits = _found(text, canary, where="details")
    assert [(h.encoding, h.fragment) for h in hits] == [
        (FRAGMENT_ENCODINGS[encoder], (start, start + MIN_FRAGMENT))
    ], text
    assert hits[0].describe() == (
        f"fragment ({span}) of canary from context.auth_token ({canary.token!r}) "
        f"found in details as {FRAGMENT_ENCODINGS[encoder]}"
    )


@pytest.mark.parametrize("urlsafe", [False, True], ids=["std", "urlsafe"])
@pytest.mark.parametrize("align", [0, 1, 2])
@pytest.mark.parametrize("cut", sorted(CUTS))
def test_minimal_fragment_in_base64_at_every_alignment(cut: str, align: int, urlsafe: bool) -> None:
    canary = new_canary("t")
    start, _ = CUTS[cut]
    piece = canary.token[start : start + MIN_FRAGMENT]
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = "blob=" + encode(_embedded_bytes(piece, align)).decode("ascii")
    hits = _found(text, canary)
    assert len(hits) == 1, text
    # a hex token's base64 needs neither '+' nor '/': one search covers both alphabets
    assert re.fullmatch(r"base64(url)?\[[012]\]", hits[0].encoding)
    assert hits[0].encoding.endswith(f"[{align}]")
    assert hits[0].fragment == (start, start + MIN_FRAGMENT)


@pytest.mark.parametrize("urlsafe", [False, True], ids=["std", "urlsafe"])
@pytest.mark.parametrize("align", [0, 1, 2])
def test_base64_fragment_alphabets_are_told_apart(align: int, urlsafe: bool) -> None:
    canary = new_canary("t", token=B64_TOKEN)
    piece = B64_TOKEN[2:16]
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    hits = _found(encode(_embedded_bytes(piece, align)).decode("ascii"), canary)
    assert [(h.encoding, h.fragment) for h in hits] == [
        (f"{'base64url' if urlsafe else 'base64'}[{align}]", (2, 16))
    ]


#: SPECIAL's slices in the encodings that keep characters apart, and their names
SPECIAL_ENCODINGS = {
    "repr": "repr",
    "unicode-escape": "unicode-escape",
    "json": "json-ascii",
    "url": "url",
    "url-plus": "url-plus",
    "hex": "hex",
    "upper": "raw (any case)",
}
#: where a slice's form is another's: the first form searched names it
SAME_FORM = {(0, "repr"): "raw", (7, "unicode-escape"): "repr", (7, "json"): "repr"}


@pytest.mark.parametrize("encoder", sorted(SPECIAL_ENCODINGS))
@pytest.mark.parametrize("start", [0, 3, len(SPECIAL) - MIN_FRAGMENT])
def test_special_token_fragments_in_char_encodings(start: int, encoder: str) -> None:
    canary = new_canary("t", token=SPECIAL)
    piece = SPECIAL[start : start + MIN_FRAGMENT]
    hits = _found(ENCODERS[encoder](SEP + piece + SEP), canary)
    expected = SAME_FORM.get((start, encoder), SPECIAL_ENCODINGS[encoder])
    assert [(h.encoding, h.fragment) for h in hits] == [(expected, (start, start + MIN_FRAGMENT))]


@pytest.mark.parametrize("cut", range(MIN_FRAGMENT, 20))
def test_longer_prefix_is_reported_whole(cut: int) -> None:
    canary = new_canary("t")
    assert len(canary.token) == 20
    hits = _found(f"token={canary.token[:cut]}... (truncated)", canary)
    assert [(h.encoding, h.fragment) for h in hits] == [("raw", (0, cut))]
    assert f"fragment (first {cut} of 20 chars)" in hits[0].describe()
    upper = _found(canary.token[-cut:].upper(), canary)
    assert [(h.encoding, h.fragment) for h in upper] == [("raw (any case)", (20 - cut, 20))]


def test_whole_token_is_not_called_a_fragment() -> None:
    canary = new_canary("t")
    (hit,) = _found("x" + canary.token + "y", canary)
    assert hit.fragment is None and hit.describe().startswith("canary from t ")


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_one_character_short_is_not_a_fragment(cut: str) -> None:
    """MIN_FRAGMENT - 1 characters: not reported raw, in any case, hex, JSON, URL or base64."""
    canary = new_canary("t")
    special = new_canary("t", token=SPECIAL)
    offset = {"prefix": 0, "suffix": 1, "middle": 0}[cut]  # keep the suffix a suffix
    for token_canary in (canary, special):
        token = token_canary.token
        start = {"prefix": 0, "suffix": len(token) - MIN_FRAGMENT, "middle": 4}[cut] + offset
        piece = token[start : start + MIN_FRAGMENT - 1]
        texts = [ENCODERS[name](f"{SEP}{piece}{SEP}") for name in sorted(ENCODERS)]
        texts += [base64.b64encode(_embedded_bytes(piece, align)).decode() for align in range(3)]
        for text in texts:
            assert _found(text, token_canary) == [], (piece, text)


@pytest.mark.parametrize(
    "token", ["0123456789ab", "short", "given-token-123"], ids=["minimal", "short", "custom"]
)
def test_tokens_of_at_most_min_fragment_are_searched_whole(token: str) -> None:
    canary = new_canary("t", token=token)
    assert _found(f"[{token}]", canary)[0].fragment is None
    assert _found(token[:-1], canary) == [] or len(token) > MIN_FRAGMENT


def _nova_texts() -> str:
    """Texts nova puts in records: messages, class names, tracebacks, ids, times, digests."""
    exception = pytest.importorskip("nova.exception")
    utils = pytest.importorskip("nova.utils")
    texts = []
    for name, cls in sorted(vars(exception).items()):
        if isinstance(cls, type) and issubclass(cls, exception.NovaException):
            texts.append(name)
            try:
                texts.append(str(cls().format_message()))
            except Exception:  # a message that needs kwargs
                continue
    try:
        utils.safe_truncate(None, 10)
    except TypeError:
        texts.append(traceback.format_exc())
    try:
        json.loads("{")
    except ValueError:
        texts.append(traceback.format_exc())
    now = datetime.datetime.now(datetime.timezone.utc)
    for i in range(200):
        uid = uuid.uuid4()
        texts += [
            f"req-{uid}",
            str(uid),
            uid.hex,
            (now + datetime.timedelta(seconds=i)).isoformat(),
        ]
        texts += [hashlib.sha256(uid.bytes).hexdigest(), hashlib.md5(uid.bytes).hexdigest()]
    assert len(texts) > 1000
    return "\n".join(texts)


def test_no_fragment_of_fresh_canaries_in_novas_own_texts() -> None:
    text = _nova_texts()
    batch = [new_canary(f"c{i}") for i in range(300)]
    assert find_canaries(text, batch, where="details") == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Instance failed",
        "No valid host was found. There are not enough hosts available.",
        "cnry",
        "canary cnr y",
        '  File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 2617',
        "0123456789abcdef" * 8,
        "Y25yeQ==",
    ],
)
def test_no_false_positive_on_unrelated_text(text: str) -> None:
    canaries = [new_canary("t") for _ in range(20)] + [new_canary("t", token=SPECIAL)]
    assert find_canaries(text, canaries) == []


def test_allowed_field_is_respected() -> None:
    user = new_canary("context.user_id", allowed=["user_id"])
    assert _found(user.token, user, where="user_id") == []
    hits = _found("user " + user.token, user, where="details")
    assert [(h.where, h.encoding) for h in hits] == [("details", "raw")]
    assert "details" in hits[0].describe() and user.token in hits[0].describe()


def test_one_hit_per_canary_and_order() -> None:
    a, b, c = new_canary("a"), new_canary("b"), new_canary("c")
    text = f"{b.token} {a.token.upper()} {b.token}"
    hits = find_canaries(text, [a, b, c], where="log")
    assert [(h.canary, h.encoding, h.where) for h in hits] == [
        (a, "raw (any case)", "log"),
        (b, "raw", "log"),
    ]


def test_json_without_ascii_escaping() -> None:
    token = '\u00e9"cnryabcdef0123456789'
    canary = new_canary("t", token=token)
    assert _found(json.dumps({"msg": token}, ensure_ascii=False), canary)


# ---------------------------------------------------------------------------
# The same, as properties over random surrounding text.

_DEFAULT_AND_SPECIAL = st.sampled_from(["default", "default", SPECIAL]).map(
    lambda t: new_canary("prop") if t == "default" else new_canary("prop", token=t)
)


@settings(max_examples=300, database=None, deadline=None)
@given(
    canary=_DEFAULT_AND_SPECIAL,
    encoding=st.sampled_from(sorted(ENCODERS)),
    before=_TEXT,
    after=_TEXT,
)
def test_property_embedded_canary_is_always_found(
    canary: Canary, encoding: str, before: str, after: str
) -> None:
    text = ENCODERS[encoding](before + canary.token + after)
    assert len(_found(text, canary)) == 1


@settings(max_examples=200, database=None, deadline=None)
@given(
    canary=_DEFAULT_AND_SPECIAL,
    before=_TEXT,
    after=_TEXT,
    cut=st.integers(MIN_FRAGMENT, 19),
    upper=st.booleans(),
)
def test_property_cut_canary_is_found(
    canary: Canary, before: str, after: str, cut: int, upper: bool
) -> None:
    piece = canary.token[:cut]
    assert _found(before + (piece.upper() if upper else piece) + after, canary)


@settings(max_examples=300, database=None, deadline=None)
@given(
    canary=_DEFAULT_AND_SPECIAL,
    encoding=st.sampled_from(sorted(ENCODERS)),
    before=_TEXT,
    after=_TEXT,
    data=st.data(),
)
def test_property_embedded_fragment_is_always_found(
    canary: Canary, encoding: str, before: str, after: str, data: st.DataObject
) -> None:
    size = len(canary.token)
    length = data.draw(st.integers(MIN_FRAGMENT, size - 1), label="length")
    start = data.draw(st.integers(0, size - length), label="start")
    text = ENCODERS[encoding](before + canary.token[start : start + length] + after)
    hits = _found(text, canary)
    assert len(hits) == 1
    # the first form found names the hit: a raw part of a repr'd slice may be shorter
    fragment = hits[0].fragment
    assert fragment is None or fragment[1] - fragment[0] >= MIN_FRAGMENT


@settings(max_examples=300, database=None, deadline=None)
@given(canary=_DEFAULT_AND_SPECIAL, text=st.text(max_size=200))
def test_property_unrelated_text_is_never_flagged(canary: Canary, text: str) -> None:
    assert _found(text, canary) == []


# ---------------------------------------------------------------------------
# render_text


class _Obj:
    def __str__(self) -> str:
        return "str-of-obj"

    def __repr__(self) -> str:
        return "repr-of-obj"


class _BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        return "repr-only"


class _BadBoth:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class _NonTextStr:
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "repr-of-non-text"


def test_render_text_str_and_scalars() -> None:
    assert render_text("as is \u00e9") == "as is \u00e9"
    assert render_text(None) == "None"
    assert render_text(5) == "5"
    assert render_text(True) == "True"


def test_render_text_bytes() -> None:
    out = render_text("caf\u00e9 \u4e2d".encode())
    assert "caf\u00e9 \u4e2d" in out
    latin = render_text(b"\xe9t\xe9 secret")
    assert "\u00e9t\u00e9 secret" in latin  # latin-1 view of undecodable bytes
    assert render_text(bytearray(b"abc")).startswith("abc")


def test_render_text_objects() -> None:
    out = render_text(_Obj())
    assert "str-of-obj" in out and "repr-of-obj" in out
    assert render_text(_BadStr()) == "repr-only"
    assert render_text(_BadBoth()) == ""
    assert render_text(_NonTextStr()) == "repr-of-non-text"
    assert "'x'" in render_text(["x"])


def test_render_text_finds_canary_in_exception_objects() -> None:
    canary = new_canary("exception.args")
    assert _found(render_text(ValueError(canary.token)), canary)


# ---------------------------------------------------------------------------
# The registry of planted canaries.


def test_planted_canaries_follow_cause_and_context() -> None:
    outer, cause, ctx = ValueError("o"), KeyError("c"), OSError("x")
    outer.__cause__ = cause
    outer.__context__ = ctx
    c1, c2, c3 = new_canary("o"), new_canary("c"), new_canary("x")
    register_planted(outer, [c1])
    register_planted(cause, [c2])
    register_planted(ctx, [c3, c3])
    assert planted_canaries(outer) == (c1, c2, c3)
    assert planted_canaries(cause) == (c2,)
    assert planted_canaries(object(), None) == ()


def test_register_planted_ignores_empty_and_checks_identity() -> None:
    obj = ValueError("o")
    register_planted(obj, [])
    assert planted_canaries(obj) == ()
    c = new_canary("o")
    register_planted(obj, [c])
    assert planted_canaries(obj) == (c,)
    assert planted_canaries(ValueError("o")) == ()


class _Local:
    """A weakly referenceable frame local standing for the secrets a traceback keeps."""


class _PyError(Exception):
    """An exception class defined in Python: its instances support weak references."""


def _raise_with_local(cls: type[Exception], local: _Local) -> None:
    payload = local  # held by the traceback's frame while the exception lives
    raise cls(repr(payload))


def _caught(cls: type[Exception]) -> tuple[Exception, weakref.ref[_Local]]:
    local = _Local()
    try:
        _raise_with_local(cls, local)
    except Exception as caught:
        exc = caught
    assert exc.__traceback__ is not None
    return exc, weakref.ref(local)


@pytest.mark.parametrize("cls", [ValueError, OSError, _PyError])
def test_registry_keeps_no_exception_alive(cls: type[Exception]) -> None:
    """A registered exception, its traceback, frames and their locals die with it.

    Built-in exceptions (``ValueError``) do not support weak references: the
    traceback's frame local stands for the exception.
    """
    exc, local_ref = _caught(cls)
    exc_ref = weakref.ref(exc) if cls is _PyError else None
    c = new_canary("exception.args")
    register_planted(exc, [c])
    assert planted_canaries(exc) == (c,)
    assert local_ref() is not None
    del exc
    gc.collect()
    assert local_ref() is None
    assert exc_ref is None or exc_ref() is None


def test_registry_keeps_no_context_alive() -> None:
    class Ctx:
        pass

    ctx = Ctx()
    ref = weakref.ref(ctx)
    register_planted(ctx, [new_canary("context.auth_token")])
    del ctx
    gc.collect()
    assert ref() is None


def _reuse_id_of_dead(make: Callable[[], Any]) -> Any:
    """Register a fresh object, drop it, and return a new one that got its id."""
    for _ in range(1000):
        dead = make()
        dead_id = id(dead)
        register_planted(dead, [new_canary("dead.object")])
        del dead
        gc.collect()
        candidates = [make() for _ in range(20)]
        for candidate in candidates:
            if id(candidate) == dead_id:
                return candidate
    raise AssertionError("CPython reused no id (cannot test)")


class _Plain:
    pass


@pytest.mark.parametrize(
    "make",
    [_Plain, lambda: ValueError("v"), lambda: _PyError("p")],
    ids=["object", "builtin-exception", "python-exception"],
)
def test_new_object_reusing_a_dead_objects_id_has_no_canaries(make: Callable[[], Any]) -> None:
    """Ids are reused after death: the dead object's entry is not claimed by a newcomer."""
    reused = _reuse_id_of_dead(make)
    assert planted_canaries(reused) == ()
    fresh = new_canary("new.object")
    register_planted(reused, [fresh])
    assert planted_canaries(reused) == (fresh,)


def test_stale_weakref_callback_does_not_drop_a_newer_entry() -> None:
    first = _Plain()
    key = id(first)
    register_planted(first, [new_canary("first")])
    callback = canaries_module._WEAK[key][0]
    second_canary = new_canary("second")
    second = _Plain()
    register_planted(second, [second_canary])
    # as if ``first`` died after ``second`` took the entry of its id
    canaries_module._WEAK[key] = (weakref.ref(second), (second_canary,))
    canaries_module._forget(key)(callback)
    assert planted_canaries(second) == (second_canary,)
    del first
    gc.collect()
    assert planted_canaries(second) == (second_canary,)


def test_objects_without_weak_references_are_matched_by_identity() -> None:
    class Slotted:
        __slots__ = ("x",)

    obj = Slotted()
    with pytest.raises(TypeError):
        weakref.ref(obj)
    c = new_canary("slotted")
    register_planted(obj, [c])
    assert planted_canaries(obj) == (c,)
    assert planted_canaries(Slotted()) == ()
    data = b"secret " + c.token.encode()
    register_planted(data, [c])
    assert planted_canaries(data) == (c,)
    assert planted_canaries(bytes(bytearray(data))) == ()
    exc = KeyError("k")
    register_planted(exc, [c])
    assert planted_canaries(exc) == (c,)
    assert planted_canaries(KeyError("k")) == ()


def test_many_live_weakly_referenced_objects_all_keep_their_canaries() -> None:
    """Live objects are never evicted (the old registry forgot all but 4,096)."""
    objs = [_PyError(i) for i in range(5000)]
    canaries = [new_canary(f"o{i}") for i in range(len(objs))]
    for obj, canary in zip(objs, canaries, strict=True):
        register_planted(obj, [canary])
    assert all(planted_canaries(o) == (c,) for o, c in zip(objs, canaries, strict=True))
    del objs
    gc.collect()
    assert len(canaries_module._WEAK) < 5000
