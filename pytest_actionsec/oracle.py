"""The security oracle: invariants over packed records, and checks that return violations.

Every invariant has a stable id, a family, a one-sentence statement and its
source. :func:`judge` takes an :class:`Observation` (one execution of one
helper: its inputs, what it returned or raised, the logs it emitted, what it
changed) and returns :class:`Violation` objects; it never asserts.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pytest_actionsec.canaries import Canary, find_canaries, render_text
from pytest_actionsec.targets import TABLE_OF

__all__ = [
    "FAMILIES",
    "INVARIANTS",
    "MISSING",
    "Invariant",
    "Observation",
    "Violation",
    "judge",
]

FAMILIES: tuple[str, ...] = (
    "leak",
    "type",
    "null",
    "bounds",
    "time",
    "integrity",
    "purity",
    "crash",
)


@dataclass(frozen=True)
class Invariant:
    """A property every stored record must have."""

    id: str
    family: str
    statement: str
    source: str


_CVE = "CVE-2019-14433 / OSSA-2019-003 (commit 298b337a16)"
INVARIANTS: dict[str, Invariant] = {
    i.id: i
    for i in [
        Invariant(
            "leak.field",
            "leak",
            "No planted secret (untrusted exception text, unused kwargs of trusted "
            "exceptions, frame locals, the context's secret attributes) appears in any "
            "stored field, the traceback included, in any encoding; an id appears only "
            "in its own field.",
            _CVE,
        ),
        Invariant(
            "leak.log",
            "leak",
            "No planted secret appears in a log record emitted while packing.",
            "security reviews (seeds 000, 002, 003): logging of sensitive data",
        ),
        Invariant(
            "type.field",
            "type",
            "Every stored value is already of its field's Python type, so "
            "oslo.versionedobjects coercion is the identity (no ISO strings in "
            "DateTimeFields, ints, bytes, traceback or exception objects in StringFields).",
            "InstanceAction/InstanceActionEvent.fields; reviews: six.string_types check",
        ),
        Invariant(
            "type.bytes-repr",
            "type",
            "No stored text is the Python repr (b'...') of a bytes value from the input.",
            "nova 34: NovaException(message=b'x') stores the text \"b'x'\"",
        ),
        Invariant(
            "type.store",
            "type",
            "The database accepts every packed record without a type error.",
            "nova/db/main/models.py column types; sqlite/PostgreSQL/MySQL drivers",
        ),
        Invariant(
            "null.preserved",
            "null",
            "A None source is stored as None, never as 'None', '' or a default; no "
            "traceback or details are stored for a call without one.",
            "nullable fields (review seed 004); periodic tasks write project_id=None (bug 1817542)",
        ),
        Invariant(
            "bounds.details",
            "bounds",
            "details is non-empty text of at most 255 UTF-8 bytes and a clean prefix of "
            "the full message (the trusted format_message() text, the given text, or the "
            "class name).",
            "nova.utils.safe_truncate; bugs 1217167, 1389102, 1425657",
        ),
        Invariant(
            "bounds.column",
            "bounds",
            "String columns hold at most their length in characters (255; instance_uuid "
            "36) and Text columns at most 65535 UTF-8 bytes.",
            "nova/db/main/models.py; PostgreSQL refuses, MySQL truncates",
        ),
        Invariant(
            "bounds.utf8",
            "bounds",
            "Stored text is valid UTF-8 (no lone surrogates).",
            "nova/db/main/models.py (utf8 tables)",
        ),
        Invariant(
            "bounds.store",
            "bounds",
            "The database accepts every packed record without a length or encoding error.",
            "MySQL utf8 (3-byte) charset and strict mode; PostgreSQL varchar(255)",
        ),
        Invariant(
            "time.naive-utc",
            "time",
            "Stored times are naive datetimes (UTC by Nova's convention), never aware "
            "ones whose offset the database would drop.",
            "bugs 1719561, 1796009, 1254764",
        ),
        Invariant(
            "time.request-clock",
            "time",
            "An action's start_time is the request context's timestamp.",
            "nova pack_action_start contract",
        ),
        Invariant(
            "time.server-clock",
            "time",
            "finish_time and an event's start_time come from the server clock at the "
            "call, not from the request's clock.",
            "nova pack_action_finish/pack_action_event_* contract; review seed 003",
        ),
        Invariant(
            "time.mirror",
            "time",
            "updated_at equals the time it mirrors (start_time, or finish_time).",
            "bug 1719561",
        ),
        Invariant(
            "integrity.result",
            "integrity",
            "result is exactly 'Success' or 'Error', and 'Error' exactly when a "
            "traceback is stored.",
            "nova pack_action_event_finish contract",
        ),
        Invariant(
            "integrity.ids",
            "integrity",
            "Ids and names (request_id, user_id, project_id, instance_uuid, action, "
            "event, host) are copied from their sources unchanged.",
            "nova pack helpers contract",
        ),
        Invariant(
            "integrity.details",
            "integrity",
            "details is present when an error carries an exception or a message.",
            "API microversion 2.84 (InstanceActionEvent 1.4)",
        ),
        Invariant(
            "integrity.columns",
            "integrity",
            "A record has every key its helper packs and no key that is not a column "
            "of its table (or a lookup key).",
            "nova/db/main/models.py",
        ),
        Invariant(
            "purity.inputs",
            "purity",
            "A helper changes none of its inputs (context, exception, traceback).",
            "review seed 004: data integrity",
        ),
        Invariant(
            "purity.globals",
            "purity",
            "A helper leaves process-global state as it found it: os.environ, the working "
            "directory, sys.path, the root logger's level and handlers, logging.disable, "
            "freezegun's frozen clocks and the bindings of datetime.datetime/date, the time "
            "functions and oslo_utils.timeutils.utcnow (the plugin restores them after each call).",
            "robustness of the plugin: state changed by one call leaks into every later test",
        ),
        Invariant(
            "crash.contract",
            "crash",
            "For input within the calling contract a helper returns a record (a dict): "
            "a failure is always recorded.",
            "nova 34: a non-dict kwargs attribute makes exception_to_dict raise",
        ),
        Invariant(
            "crash.hostile",
            "crash",
            "Input outside the contract is either packed cleanly or refused with "
            "TypeError or ValueError; any other exception is a finding.",
            "review seeds 001, 003: input validation",
        ),
        Invariant(
            "crash.timeout",
            "crash",
            "A helper returns within the per-example time limit.",
            "robustness of the plugin",
        ),
    ]
}


@dataclass
class Violation:
    """One broken invariant, with the evidence and the input that broke it."""

    invariant: str
    family: str
    function: str
    layer: str
    field: str | None
    input: str
    evidence: str
    kind: str = dataclasses.field(default="", compare=False)

    @property
    def statement(self) -> str:
        """The invariant's one-sentence statement."""
        inv = INVARIANTS.get(self.invariant)
        return inv.statement if inv else ""

    def key(self) -> tuple[str, str, str, str, str]:
        """What makes two violations the same finding (``kind``: the offending type)."""
        return (self.invariant, self.function, self.layer, self.field or "", self.kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the report's ``violations`` entries)."""
        return {
            "invariant": self.invariant,
            "family": self.family,
            "function": self.function,
            "layer": self.layer,
            "field": self.field,
            "input": self.input,
            "evidence": self.evidence,
        }


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()

# Column types and limits from nova/db/main/models.py (used where no ovo field exists).
_STR, _TEXT, _DT, _INT = "str", "text", "datetime", "int"
COLUMNS: dict[str, dict[str, tuple[str, int | None]]] = {
    "instance_actions": {
        "id": (_INT, None),
        "action": (_STR, 255),
        "instance_uuid": (_STR, 36),
        "request_id": (_STR, 255),
        "user_id": (_STR, 255),
        "project_id": (_STR, 255),
        "start_time": (_DT, None),
        "finish_time": (_DT, None),
        "message": (_STR, 255),
        "created_at": (_DT, None),
        "updated_at": (_DT, None),
        "deleted_at": (_DT, None),
        "deleted": (_INT, None),
    },
    "instance_actions_events": {
        "id": (_INT, None),
        "event": (_STR, 255),
        "action_id": (_INT, None),
        "start_time": (_DT, None),
        "finish_time": (_DT, None),
        "result": (_STR, 255),
        "traceback": (_TEXT, 65535),
        "host": (_STR, 255),
        "details": (_TEXT, 65535),
        "created_at": (_DT, None),
        "updated_at": (_DT, None),
        "deleted_at": (_DT, None),
        "deleted": (_INT, None),
        # lookup keys the DB API pops to find the parent action
        "instance_uuid": (_STR, 36),
        "request_id": (_STR, 255),
    },
}

REQUIRED_KEYS: dict[str, frozenset[str]] = {
    "pack_action_start": frozenset(
        {
            "request_id",
            "instance_uuid",
            "user_id",
            "project_id",
            "action",
            "start_time",
            "updated_at",
        }
    ),
    "pack_action_finish": frozenset({"request_id", "instance_uuid", "finish_time", "updated_at"}),
    "pack_action_event_start": frozenset(
        {"event", "instance_uuid", "request_id", "start_time", "host"}
    ),
    "pack_action_event_finish": frozenset(
        {"event", "instance_uuid", "request_id", "finish_time", "result"}
    ),
}

# field -> where its value comes from: ("context", attr) or ("arg", name)
_COPIES: dict[str, dict[str, tuple[str, str]]] = {
    "pack_action_start": {
        "request_id": ("context", "request_id"),
        "user_id": ("context", "user_id"),
        "project_id": ("context", "project_id"),
        "instance_uuid": ("arg", "instance_uuid"),
        "action": ("arg", "action_name"),
    },
    "pack_action_finish": {
        "request_id": ("context", "request_id"),
        "instance_uuid": ("arg", "instance_uuid"),
    },
    "pack_action_event_start": {
        "request_id": ("context", "request_id"),
        "instance_uuid": ("arg", "instance_uuid"),
        "event": ("arg", "event_name"),
        "host": ("arg", "host"),
    },
    "pack_action_event_finish": {
        "request_id": ("context", "request_id"),
        "instance_uuid": ("arg", "instance_uuid"),
        "event": ("arg", "event_name"),
    },
}

_SERVER_CLOCK_FIELDS = {
    "pack_action_finish": "finish_time",
    "pack_action_event_start": "start_time",
    "pack_action_event_finish": "finish_time",
}

CONTEXT_ATTRS = ("user_id", "project_id", "request_id", "timestamp")


@dataclass
class Observation:
    """One execution of one helper, as the oracle sees it.

    ``sources`` holds the context attributes read before the call; ``arguments``
    the helper's arguments (after defaults) as the caller gave them.
    """

    function: str
    layer: str
    record: Any
    error: BaseException | None
    sources: Mapping[str, Any]
    arguments: Mapping[str, Any]
    canaries: tuple[Canary, ...] = ()
    server_window: tuple[_dt.datetime, _dt.datetime] | None = None
    logs: tuple[str, ...] = ()
    impurities: tuple[str, ...] = ()
    #: process-global changes the call made (already undone), see ``purity.globals``
    globals_changed: tuple[str, ...] = ()
    #: precision of the stored times (MySQL DATETIME keeps whole seconds); None: exact
    time_resolution: _dt.timedelta | None = None
    hostile: tuple[str, ...] = ()
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    trusted: tuple[type[BaseException], ...] = ()
    timed_out: float | None = None
    bytes_inputs: tuple[bytes, ...] = ()
    #: (invariant id, message) when the database refused the packed record (its own
    #: message) or stored it changed (a message starting "the database ")
    store_error: tuple[str, str] | None = None
    describe_input: Callable[[], str] | None = None

    def input_text(self) -> str:
        """The input as text (a runnable snippet when the call was drawn by the plugin)."""
        if self.describe_input is not None:
            return self.describe_input()
        parts = [f"{k}={_short(v)}" for k, v in self.arguments.items()]
        ctx = ", ".join(f"{k}={_short(v)}" for k, v in self.sources.items())
        return f"{self.function}(context({ctx}), {', '.join(parts)})"


def _plain(value: Any) -> Any:
    """``value``, or the exact str a str subclass holds (its own methods never called).

    A target may store a str subclass whose ``encode``, ``__len__``, ``__str__``,
    ``__eq__`` ... raise or lie. The database stores the characters it holds, so the
    oracle measures those with str's own methods (``str.__str__`` copies them).
    """
    kind = type(value)  # not isinstance: __class__ may lie
    if kind is not str and issubclass(kind, str):
        return str.__str__(value)
    return value


def _short(value: Any, limit: int = 120) -> str:
    try:
        text: str = _plain(repr(_plain(value)))
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _field(key: Any) -> str:
    """A record key as text (a str subclass by what it holds; never raises)."""
    key = _plain(key)
    if type(key) is str:
        return key
    try:
        return str(_plain(str(key)))
    except Exception:
        return _short(key)


def _utc_naive(value: _dt.datetime, resolution: _dt.timedelta | None = None) -> _dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        out = value.replace(tzinfo=None)
    else:
        out = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    if resolution is not None and resolution >= _dt.timedelta(seconds=1):
        out = out.replace(microsecond=0)
    return out


_PY_TYPES = {_STR: str, _TEXT: str, _DT: _dt.datetime, _INT: int}


@lru_cache(maxsize=256)
def _kind_of_class(cls: type) -> str | None:
    for name in (c.__name__ for c in cls.__mro__):
        if "DateTime" in name:
            return _DT
        if "Integer" in name:
            return _INT
        if "String" in name or "UUID" in name:
            return _STR
    return None


def _field_kind(field: Any) -> str | None:
    """The kind of an oslo.versionedobjects field, from its field type's class hierarchy.

    ``field._type`` (``String()``, ``SensitiveString()``, ``UUID()``, a fork's own
    ``String`` subclass...) decides; a list or dict type is none of ours. Objects
    without ``_type`` are judged by their class name.
    """
    ftype = getattr(field, "_type", None)
    source: type = type(ftype) if ftype is not None else type(field)
    return _kind_of_class(source)


def _expected_kind(obs: Observation, table: str, name: str) -> str | None:
    fields = obs.schemas.get(table, {})
    ovo = fields.get(name)
    if ovo is not None:
        kind = _field_kind(ovo)
        if kind is not None:
            return kind
    column = COLUMNS[table].get(name)
    return column[0] if column else None


def _type_ok(value: Any, kind: str) -> bool:
    actual = type(value)  # not isinstance: __class__ may lie (a Mock(spec=str) is no str)
    if kind == _INT:
        return issubclass(actual, int) and not issubclass(actual, bool)
    return issubclass(actual, _PY_TYPES[kind])


def _is_trusted(exc: Any, trusted: Iterable[type[BaseException]]) -> bool:
    return any(isinstance(exc, cls) for cls in trusted)


def _message_candidates(exc_val: Any, obs: Observation) -> set[str]:
    """Texts details may be a prefix of, for this exc_val."""
    if isinstance(exc_val, str):
        return {_plain(exc_val)}
    names = {type(exc_val).__name__}
    if _is_trusted(exc_val, obs.trusted):
        try:
            msg = exc_val.format_message()
        except Exception:
            msg = None
        if isinstance(msg, str):
            names.add(_plain(msg))
        elif isinstance(msg, bytes):  # nova's safe_truncate decodes bytes
            names.add(bytes.decode(msg, "utf-8", "ignore"))
            names.add(type(msg).__name__)
        elif msg is not None:
            names.add(type(msg).__name__)
    return names


def _utf8_len(text: str) -> int:
    return len(str.encode(text, "utf-8", "surrogatepass"))


class _Judge:
    def __init__(self, obs: Observation, families: frozenset[str]) -> None:
        self.obs = obs
        self.families = families
        self.out: list[Violation] = []
        self._input: str | None = None

    def add(self, invariant: str, fieldname: str | None, evidence: str, kind: str = "") -> None:
        inv = INVARIANTS[invariant]
        if inv.family not in self.families:
            return
        if self._input is None:
            self._input = self.obs.input_text()
        self.out.append(
            Violation(
                invariant=invariant,
                family=inv.family,
                function=self.obs.function,
                layer=self.obs.layer,
                field=fieldname,
                input=self._input,
                evidence=evidence,
                kind=kind,
            )
        )

    def want(self, family: str) -> bool:
        return family in self.families

    # -- the checks -------------------------------------------------------

    def run(self) -> list[Violation]:
        obs = self.obs
        if obs.impurities:
            self.add("purity.inputs", None, "; ".join(obs.impurities))
        if obs.globals_changed:
            kinds = ",".join(sorted({c.split(":")[0].split(" ")[0] for c in obs.globals_changed}))
            self.add("purity.globals", None, "; ".join(obs.globals_changed) + " (restored)", kinds)
        if obs.timed_out is not None:
            self.add("crash.timeout", None, f"no return within {obs.timed_out:g} s")
            return self.out
        if obs.store_error is not None:
            invariant, message = obs.store_error
            if not message.startswith("the database "):  # a refusal: the DB's own message
                message = f"the database refused the record: {message}"
            self.add(invariant, None, message, invariant)
        if obs.error is not None:
            self.crash(obs.error)
            if self.want("leak"):
                self.leaks_in_logs()
            return self.out
        record = obs.record
        if not isinstance(record, Mapping):
            inv = "crash.hostile" if obs.hostile else "crash.contract"
            self.add(inv, None, f"returned {type(record).__name__} {_short(record)}, not a dict")
            return self.out
        if self.want("leak"):
            self.leaks(record)
        if self.want("type") or self.want("bounds"):
            self.types_and_bounds(record)
        if self.want("null") or self.want("integrity"):
            self.copies(record)
        if self.want("time"):
            self.times(record)
        if self.want("integrity") or self.want("null") or self.want("bounds"):
            self.event_result(record)
        if self.want("integrity"):
            self.columns(record)
        return self.out

    def crash(self, error: BaseException) -> None:
        obs = self.obs
        what = f"{type(error).__name__}: {_short(_error_text(error), 200)}"
        if obs.hostile:
            if isinstance(error, (TypeError, ValueError)):
                return
            self.add(
                "crash.hostile",
                None,
                f"raised {what} (hostile input: {'; '.join(obs.hostile)}); the failure "
                "is not recorded",
                type(error).__name__,
            )
        else:
            self.add(
                "crash.contract",
                None,
                f"raised {what}; the failure is not recorded",
                type(error).__name__,
            )

    def leaks(self, record: Mapping[str, Any]) -> None:
        canaries = self.obs.canaries
        if canaries:
            for name, value in record.items():
                for hit in find_canaries(render_text(value), canaries, where=_field(name)):
                    self.add("leak.field", _field(name), hit.describe())
        self.leaks_in_logs()

    def leaks_in_logs(self) -> None:
        secrets = [c for c in self.obs.canaries if c.secret]
        for i, line in enumerate(self.obs.logs):
            for hit in find_canaries(line, secrets, where="log"):
                self.add("leak.log", None, f"{hit.describe()} (record {i}: {_short(line)})")

    def types_and_bounds(self, record: Mapping[str, Any]) -> None:
        table = TABLE_OF[self.obs.function]
        bytes_reprs = self._bytes_reprs()
        for name, value in record.items():
            if value is None:
                continue
            kind = _expected_kind(self.obs, table, _field(name))
            if kind is None:
                continue
            if not _type_ok(value, kind):
                self.add(
                    "type.field",
                    _field(name),
                    f"stored {type(value).__name__} {_short(value)} where the field is {kind}",
                    type(value).__name__,
                )
                continue
            if issubclass(type(value), str):
                # a str subclass is still text to the database: measure the characters
                # it holds with str's own methods, never its (possibly raising) ones
                text = _plain(value)
                if bytes_reprs and any(r in text for r in bytes_reprs):
                    self.add(
                        "type.bytes-repr", _field(name), f"stored the repr of bytes: {_short(text)}"
                    )
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    self.add(
                        "bounds.utf8", _field(name), f"not valid UTF-8: {exc.reason} at {exc.start}"
                    )
                    continue
                limit = COLUMNS[table].get(_field(name), (None, None))[1]
                if limit is not None:
                    size = _utf8_len(text) if kind == _TEXT else len(text)
                    if size > limit:
                        unit = "UTF-8 bytes" if kind == _TEXT else "characters"
                        self.add(
                            "bounds.column",
                            _field(name),
                            f"{size} {unit}, column holds {limit}",
                        )

    def _bytes_reprs(self) -> list[str]:
        out = [repr(b) for b in self.obs.bytes_inputs if b]
        exc_val = self.obs.arguments.get("exc_val")
        if isinstance(exc_val, bytes) and exc_val:
            out.append(repr(exc_val))
        if isinstance(exc_val, BaseException):
            for arg in getattr(exc_val, "args", ()):
                if isinstance(arg, bytes) and arg:
                    out.append(repr(arg))
            kwargs = getattr(exc_val, "kwargs", None)
            if isinstance(kwargs, dict):
                out.extend(repr(v) for v in kwargs.values() if isinstance(v, bytes) and v)
        return out

    def _source(self, where: tuple[str, str]) -> Any:
        kind, name = where
        if kind == "context":
            return self.obs.sources.get(name, MISSING)
        return self.obs.arguments.get(name, MISSING)

    def copies(self, record: Mapping[str, Any]) -> None:
        for name, where in _COPIES[self.obs.function].items():
            source = self._source(where)
            if source is MISSING or name not in record:
                continue
            stored = record[name]
            if source is None:
                if stored is not None:
                    self.add(
                        "null.preserved",
                        name,
                        f"source {where[0]}.{where[1]} is None, stored {_short(stored)}",
                    )
            elif not _same(stored, source):
                self.add(
                    "integrity.ids",
                    name,
                    f"stored {_short(stored)}, source {where[0]}.{where[1]} is {_short(source)}",
                )

    def times(self, record: Mapping[str, Any]) -> None:
        obs = self.obs
        for name, value in record.items():
            if isinstance(value, _dt.datetime) and value.utcoffset() is not None:
                self.add(
                    "time.naive-utc",
                    _field(name),
                    f"stored an aware datetime {value.isoformat()} (offset {value.utcoffset()})",
                )
        fn = obs.function
        if fn == "pack_action_start":
            start = record.get("start_time", MISSING)
            ts = obs.sources.get("timestamp", MISSING)
            if isinstance(start, _dt.datetime) and isinstance(ts, _dt.datetime):
                res = obs.time_resolution
                if _utc_naive(start, res) != _utc_naive(ts, res):
                    self.add(
                        "time.request-clock",
                        "start_time",
                        f"start_time {start.isoformat()} but context.timestamp is {ts.isoformat()}",
                    )
            self._mirror(record, "start_time")
        if fn in _SERVER_CLOCK_FIELDS and obs.server_window is not None:
            name = _SERVER_CLOCK_FIELDS[fn]
            value = record.get(name, MISSING)
            lo, hi = obs.server_window
            res = obs.time_resolution
            if isinstance(value, _dt.datetime) and not (
                _utc_naive(lo, res) <= _utc_naive(value, res) <= _utc_naive(hi, res)
            ):
                ts = obs.sources.get("timestamp")
                hint = ""
                if isinstance(ts, _dt.datetime) and _utc_naive(ts) == _utc_naive(value):
                    hint = " (it is the request's timestamp)"
                when = lo.isoformat() if lo == hi else f"{lo.isoformat()}..{hi.isoformat()}"
                self.add(
                    "time.server-clock",
                    name,
                    f"{name} {value.isoformat()} but the server clock read {when}{hint}",
                )
        if fn == "pack_action_finish":
            self._mirror(record, "finish_time")

    def _mirror(self, record: Mapping[str, Any], mirrored: str) -> None:
        if "updated_at" not in record or mirrored not in record:
            return
        a, b = record["updated_at"], record[mirrored]
        if not _same(a, b):
            self.add(
                "time.mirror",
                "updated_at",
                f"updated_at {_short(a)} differs from {mirrored} {_short(b)}",
            )

    def event_result(self, record: Mapping[str, Any]) -> None:
        if self.obs.function != "pack_action_event_finish":
            return
        args = self.obs.arguments
        exc_val = args.get("exc_val")
        exc_tb = args.get("exc_tb")
        # stored values are compared only as exact str: their own __eq__ is never called
        result = _plain(record.get("result", MISSING))
        tb_stored = record.get("traceback") is not None
        if type(result) is not str or result not in ("Success", "Error"):
            self.add("integrity.result", "result", f"result is {_short(result)}")
        elif (result == "Error") != tb_stored:
            self.add(
                "integrity.result",
                "result",
                f"result {result!r} but traceback {'stored' if tb_stored else 'not stored'}",
            )
        if exc_tb is None:
            for name in ("traceback", "details"):
                if record.get(name) is not None:
                    self.add(
                        "null.preserved",
                        name,
                        f"no exc_tb given, yet {name} = {_short(record.get(name))}",
                    )
            if type(result) is str and result == "Error":
                self.add("integrity.result", "result", "no exc_tb given, yet result is 'Error'")
            return
        if type(result) is str and result == "Success":
            self.add(
                "integrity.result", "result", f"exc_tb given ({_short(exc_tb)}), yet 'Success'"
            )
        details = _plain(record.get("details"))
        message = _plain(exc_val)
        carries = isinstance(exc_val, BaseException) or (type(message) is str and message)
        if carries and (details is None or (type(details) is str and not details)):
            self.add(
                "integrity.details",
                "details",
                f"error carries {type(exc_val).__name__} but no details are stored",
            )
        if type(details) is str and details and self.want("bounds"):
            if exc_val is None or (type(message) is str and not message):
                return
            candidates = _message_candidates(exc_val, self.obs)
            size = _utf8_len(details)
            if size > 255:
                self.add("bounds.details", "details", f"details has {size} UTF-8 bytes (max 255)")
            elif not any(c.startswith(details) for c in candidates):
                shown = sorted(candidates, key=len)[:2]
                self.add(
                    "bounds.details",
                    "details",
                    f"details {_short(details, 80)} is not a clean prefix of "
                    f"{' or '.join(_short(c, 60) for c in shown)}",
                )

    def columns(self, record: Mapping[str, Any]) -> None:
        fn = self.obs.function
        table = TABLE_OF[fn]
        names = [_field(k) for k in record]
        missing = sorted(REQUIRED_KEYS[fn] - set(names))
        extra = sorted(k for k in names if k not in COLUMNS[table])
        if missing:
            self.add("integrity.columns", None, f"record lacks {', '.join(missing)}")
        if extra:
            self.add("integrity.columns", None, f"record has unknown keys {', '.join(extra)}")


def _error_text(error: BaseException) -> str:
    """str(error), or '' when it raises."""
    try:
        return str(_plain(str(error)))
    except Exception:
        return ""


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    a, b = _plain(a), _plain(b)  # a str subclass stores the text it holds
    try:
        return bool(type(a) is type(b) and a == b) or (
            isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime) and a == b
        )
    except Exception:
        return False


def judge(obs: Observation, families: Iterable[str] | None = None) -> list[Violation]:
    """All violations of the invariants of ``families`` (default: all) in ``obs``."""
    chosen = frozenset(FAMILIES if families is None else families)
    unknown = chosen - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown invariant families {sorted(unknown)}; known: {FAMILIES}")
    return _Judge(obs, chosen).run()
