"""Print a :class:`~pytest_actionsec.specs.Call` as a runnable Python script.

A second interpreter of the specs: :meth:`Call.build
<pytest_actionsec.specs.Call.build>` builds the objects, :func:`call_source`
writes the Python that builds the same objects and calls the target's own
function the way of its layer (the helper; the RPC boundary ``serialize_args``;
then nova's DB write and read-back on a :class:`~pytest_actionsec.store.Store`;
then nova's API rendering) under the same frozen server clock, and ends by
printing the violations it shows (:class:`pytest_actionsec.replay.Replay`), so a
finding is replayed outside pytest with ``python snippet.py``. Every value is
printed literally (canaries included) and only names the script uses are
imported.
"""

from __future__ import annotations

import datetime as _dt
import functools
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pytest_actionsec import nova
from pytest_actionsec.constants import DEFAULT_TARGET, DEFAULT_TIMEOUT
from pytest_actionsec.credentials import mask_url
from pytest_actionsec.specs import (
    Call,
    ExcInfoSpec,
    ExcSpec,
    InstanceSpec,
    ObjSpec,
    ServerSpec,
    TbSpec,
    alias,
    spec_bytes,
)
from pytest_actionsec.targets import FAULT_SINK, NOTIFY_SINK

if TYPE_CHECKING:
    from pytest_actionsec.targets import Target

__all__ = ["STORE_ENV", "call_source", "literal", "mask_url", "with_families"]

#: The environment variable a printed store/api input reads its database URL from
#: (the one ``pytest_actionsec.fuzz`` reads); unset: in-process sqlite.
STORE_ENV = "ACTIONSEC_STORE"


def literal(value: Any) -> str:
    """Python source for ``value`` (datetimes as ``datetime.datetime``, even freezegun's)."""
    if isinstance(value, _dt.datetime):
        parts = [value.year, value.month, value.day, value.hour, value.minute, value.second]
        text = ", ".join(str(p) for p in parts)
        if value.microsecond:
            text += f", {value.microsecond}"
        if value.tzinfo is not None:
            offset = int((value.utcoffset() or _dt.timedelta(0)).total_seconds())
            text += f", tzinfo=datetime.timezone(datetime.timedelta(seconds={offset}))"
        return f"datetime.datetime({text})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + "".join(literal(v) + ", " for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _exception_source(spec: ExcSpec, var: str, lines: list[str], classes: dict[str, str]) -> None:
    source = spec.class_source()
    if source is not None and spec.name is not None:
        if source not in classes:  # two different classes may share a name: rename
            used = {text.split("(")[0][len("class ") :] for text in classes.values()}
            name, n = spec.name, 2
            while name in used:
                name, n = f"{spec.name}_{n}", n + 1
            classes[source] = source.replace(f"class {spec.name}(", f"class {name}(", 1)
        ctor = classes[source].split("(")[0][len("class ") :]
    else:
        ctor = alias(spec.base)
    args = [repr(a) for a in spec.args] + [f"{k}={v!r}" for k, v in spec.kwargs]
    lines.append(f"{var} = {ctor}({', '.join(args)})")
    for name, value in spec.attrs:
        lines.append(f"{var}.{name} = {value!r}")
    if spec.notes:
        lines.append(f"{var}.__notes__ = {list(spec.notes)!r}")
    for attr, sub in (("__cause__", spec.cause), ("__context__", spec.context)):
        if sub is not None:
            _exception_source(sub, var + "_" + attr.strip("_"), lines, classes)
            lines.append(f"{var}.{attr} = {var}_{attr.strip('_')}")
    if spec.raise_secrets is not None:
        kw = ", ".join(f"{k}={v!r}" for k, v in spec.raise_secrets)
        lines.append(f"{var} = raise_through_frame({var}, {kw})")


def _bases(spec: ExcSpec) -> set[str]:
    out = {spec.base}
    for sub in (spec.cause, spec.context):
        if sub is not None:
            out |= _bases(sub)
    return out


def with_families(describe: Callable[[], str] | None, families: Iterable[str]) -> Any:
    """``describe`` judging only ``families`` when it prints a snippet (else unchanged)."""
    from pytest_actionsec.oracle import FAMILIES

    chosen = tuple(f for f in FAMILIES if f in set(families))
    if chosen == tuple(FAMILIES):
        return describe
    if isinstance(describe, functools.partial) and describe.func is call_source:
        return functools.partial(describe, families=chosen)
    return describe


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _uses_uuid(text: str) -> bool:
    return "UUID(" in text


def _import_ref(dotted: str, imports: set[str]) -> str:
    """How the script names the function at ``dotted`` (``pkg.mod.func`` or
    ``pkg.mod.Class.func``), importing its module's first attribute."""
    import importlib

    parts = dotted.split(".")
    cut = len(parts) - 1
    for n in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module
        try:
            importlib.import_module(".".join(parts[:n]))
        except Exception:
            continue
        cut = n
        break
    imports.add(f"from {'.'.join(parts[:cut])} import {parts[cut]}")
    return ".".join(parts[cut:])


def _helper_ref(target: Target, function: str, imports: set[str]) -> str:
    """How the script names the target's own ``function`` (importing it)."""
    import importlib

    if function == FAULT_SINK:
        origin = target.fault_origin if "." in target.fault_origin else ""
        return _import_ref(origin or f"nova.compute.utils.{FAULT_SINK}", imports)
    if function == NOTIFY_SINK:  # h-notify
        origin = target.notify_origin if "." in target.notify_origin else ""
        return _import_ref(origin or f"nova.compute.utils.{NOTIFY_SINK}", imports)
    owner = target.facts_of(function).owner
    try:
        loaded = importlib.import_module(target.path)
    except Exception:
        loaded = None
    holder = getattr(loaded, owner, None) if loaded is not None else None
    if holder is not None and getattr(holder, function, None) is not None:
        imports.add(f"from {target.path} import {owner}")
        return f"{owner}.{function}"
    imports.add(f"from {target.path} import {function}")
    return function


def _context_lines(call: Call, target: Target, imports: set[str]) -> list[str]:
    attrs = dict(call.context.attrs)
    if call.context.missing or target.context_origin != "nova.context.RequestContext":
        imports.add("from pytest_actionsec.targets import PlainContext")
        args = ", ".join(f"{k}={literal(v)}" for k, v in attrs.items())
        lines = [f"context = PlainContext({args})"]
        lines.extend(f"del context.{m}" for m in call.context.missing)
        return lines
    imports.add("from nova.context import RequestContext")
    args = ", ".join([*(f"{k}={literal(v)}" for k, v in attrs.items()), "is_admin=False"])
    lines = [f"context = RequestContext({args})"]
    # the constructor normalises some values (generated request ids, filtered
    # catalogs): set what the run's context held
    try:
        request_context = nova.modules().context.RequestContext
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            built = request_context(**attrs, is_admin=False)
        fix = [
            k
            for k, v in attrs.items()
            if type(getattr(built, k, None)) is not type(v) or getattr(built, k, None) != v
        ]
    except Exception:
        fix = list(attrs)
    lines.extend(f"context.{k} = {literal(attrs[k])}" for k in fix)
    return lines


def call_source(
    call: Call,
    target: Target | str,
    *,
    layer: str | None = None,
    families: Iterable[str] | None = None,
    store_url: str | None = None,
    timeout: float | None = None,
    event_finish_via: str = "boundary",
) -> str:
    """A runnable Python script that reproduces ``call`` on ``target`` at ``layer``.

    ``layer`` (default ``call.layer``) decides the way: ``packer`` calls the
    helper, ``boundary`` calls it through the target's ``serialize_args``,
    ``store`` packs as the store layer does (event finish through the boundary
    unless ``event_finish_via="packer"``) then writes and reads back the record
    on the store of ``$ACTIONSEC_STORE`` (``store_url``, masked, is named in a
    comment), ``api`` then renders it through nova's API code. The script ends by
    printing the violations of ``families`` (default: all) it shows.
    """

    if isinstance(target, str):
        from pytest_actionsec.targets import resolve_target

        target = resolve_target(target)
    layer = call.layer if layer is None else layer
    lines: list[str] = []
    classes: dict[str, str] = {}
    imports = {
        "import datetime",
        "from pytest_actionsec.clock import SkewedClock",
        "from pytest_actionsec.replay import Replay",
    }
    values: dict[str, str] = {}
    exc_var = None
    exc_raised = False
    for name, value in call.arguments:
        if isinstance(value, ExcSpec):
            for base in _bases(value):
                module = base.rpartition(".")[0]
                if module != "builtins":
                    imports.add(f"import {module} as _{module.replace('.', '_')}")
            _exception_source(value, name, lines, classes)
            values[name] = name
            exc_var = name
            exc_raised = value.raise_secrets is not None
        elif isinstance(value, ObjSpec):
            values[name] = value.expr
        elif isinstance(value, ServerSpec):  # h-notify: the notified server
            imports.add("from pytest_actionsec.notifications import make_server")
            uuid = value.uuid.expr if isinstance(value.uuid, ObjSpec) else literal(value.uuid)
            values[name] = f"make_server({uuid})"
        elif isinstance(value, InstanceSpec):
            imports.add("from pytest_actionsec.specs import make_instance")
            uuid = value.uuid.expr if isinstance(value.uuid, ObjSpec) else literal(value.uuid)
            plain = ", plain=True" if value.plain else ""
            values[name] = f"make_instance({uuid}{plain})"
        elif isinstance(value, ExcInfoSpec):
            if exc_var is None:
                exc_var = "raised"
                lines.append("raised = RuntimeError('boom')")
            if not exc_raised:
                kw = "".join(f", {k}={v!r}" for k, v in value.secrets)
                lines.append(f"{exc_var} = raise_through_frame({exc_var}{kw})")
                exc_raised = True
            values[name] = f"(type({exc_var}), {exc_var}, {exc_var}.__traceback__)"
        elif isinstance(value, TbSpec):
            if value.from_exc and exc_var is not None and exc_raised:
                values[name] = f"{exc_var}.__traceback__"
            else:
                kw = "".join(f", {k}={v!r}" for k, v in value.secrets)
                values[name] = f"raise_through_frame(RuntimeError('boom'){kw}).__traceback__"
        else:
            values[name] = literal(value)
    out: list[str] = []
    out.extend(classes.values())
    out.extend(_context_lines(call, target, imports))
    out.extend(lines)
    helper = _helper_ref(target, call.function, imports)
    through_boundary = call.function == "pack_action_event_finish" and (
        layer == "boundary"
        or (layer in ("store", "api") and event_finish_via == "boundary" and target.boundary)
    )
    if through_boundary:
        origin = target.boundary_origin if "." in target.boundary_origin else ""
        boundary = _import_ref(origin or "nova.objects.base.serialize_args", imports)
        out.append("")
        out.append("")
        out.append("def pack_through_rpc(*args, **kwargs):")
        out.append(f'    """{call.function} behind the RPC boundary ({boundary})."""')
        out.append(f"    remote = {boundary}(lambda cls, *a, **k: {helper}(*a, **k))")
        out.append("    return remote(None, *args, **kwargs)")
        out.append("")
        out.append("")
        helper = "pack_through_rpc"
    positional = ["context"]
    keywords = []
    facts = target.facts_of(call.function)
    for name, _ in call.arguments:
        if name in facts.positional or call.positional:
            positional.append(values[name])
        else:
            keywords.append(f"{facts.own_name(name)}={values[name]}")
    options = [repr(call.function), repr(layer)]
    if target.path != DEFAULT_TARGET:
        options.append(f"target={target.path!r}")
    options.append(f"trusted={[_dotted(c) for c in target.trusted]!r}")
    if families is not None:
        options.append(f"families={list(families)!r}")
    if timeout is not None and timeout != DEFAULT_TIMEOUT:
        options.append(f"timeout={timeout!r}")
    if call.hostile:
        options.append(f"hostile={list(call.hostile)!r}")
    from pytest_actionsec.exposure import active_policies

    policies = active_policies()
    if policies is not None:  # audiences follow the run's policy files
        options.append(f"policies={list(policies.paths)!r}")
    bytes_inputs = _bytes_inputs(call)
    if bytes_inputs:
        options.append(f"bytes_inputs={bytes_inputs!r}")
    if call.canaries:
        rows = "".join(
            f"        ({c.token!r}, {c.origin!r}, {sorted(c.allowed_fields)!r}),\n"
            for c in call.canaries
        )
        options.append("canaries=[\n" + rows + "    ]")
    out.append("replay = Replay(" + ", ".join(o for o in options if "\n" not in o))
    if any("\n" in o for o in options):
        out[-1] += ", " + ", ".join(o for o in options if "\n" in o)
    out[-1] += ")"
    stored = layer in ("store", "api")
    own_store = target.store_factory if not target.nova_records else None
    if stored and own_store is not None:
        # the project's own store stage: its factory, given the replay's target
        module = getattr(own_store, "__module__", "")
        name = getattr(own_store, "__qualname__", getattr(own_store, "__name__", ""))
        imports.add(f"from {module} import {name.partition('.')[0]}")
        out.append(f"store = {name}(replay.target)  # {target.store_stage_origin}")
    elif stored:
        imports.add("import os")
        imports.add("from pytest_actionsec.store import Store")
        found = mask_url(store_url) if store_url else "sqlite://"
        out.append(
            f"# found on the store {found}; set {STORE_ENV} to a database URL to replay there"
        )
    call_args = ", ".join([helper, *positional, *keywords])
    # the suite's clock: frozen at the server's time, its local zone not UTC
    frozen = f"SkewedClock({literal(call.server_time)})"
    if stored and own_store is None:
        out.append(f"with Store.open(os.environ.get({STORE_ENV!r})) as store, {frozen}:")
    else:
        out.append(f"with {frozen}:")
    out.append(f"    replay.call({call_args})")
    if stored:
        out.append("    replay.write(store)")
    if layer == "api":
        out.append("    replay.render()")
    # a violation shown makes the script exit 1: usable as a check in a script or a bisect
    out.append("raise SystemExit(1 if replay.show() else 0)")
    text = "\n".join(out)
    if "raise_through_frame(" in text:
        imports.add("from pytest_actionsec.specs import raise_through_frame")
    if _uses_uuid(text):
        imports.add("from uuid import UUID")
    bare = sorted(i for i in imports if i.startswith("import "))
    names: dict[str, set[str]] = {}
    for item in imports:
        if item.startswith("from "):
            module, _, name = item[len("from ") :].partition(" import ")
            names.setdefault(module, set()).add(name)
    froms = [f"from {m} import {', '.join(sorted(names[m]))}" for m in sorted(names)]
    return "\n".join([*bare, *froms, "", text]) + "\n"


def _bytes_inputs(call: Call) -> list[bytes]:
    """The bytes the call's arguments carry (as the engine counts them)."""
    return [b for _, v in call.arguments for b in spec_bytes(v)]
