"""Print a :class:`~pytest_actionsec.specs.Call` as a runnable Python snippet.

A second interpreter of the specs: :meth:`Call.build
<pytest_actionsec.specs.Call.build>` builds the objects, :func:`call_source`
writes the Python that builds the same objects and calls the helper under the
same frozen server clock, so a failure can be replayed outside pytest.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from pytest_actionsec.specs import Call, ExcInfoSpec, ExcSpec, InstanceSpec, ObjSpec, TbSpec, alias
from pytest_actionsec.targets import POSITIONAL_PARAMS

__all__ = ["call_source", "literal"]


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


def call_source(call: Call, target_path: str) -> str:
    """A runnable Python snippet that reproduces ``call`` on the target at ``target_path``."""
    lines: list[str] = []
    classes: dict[str, str] = {}
    imports = {
        "import datetime",
        "import freezegun",
        "from uuid import UUID",
        "from pytest_actionsec.strategies import raise_through_frame",
        "from pytest_actionsec.targets import PlainContext, resolve_target",
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
    ctx_attrs = ", ".join(f"{k}={literal(v)}" for k, v in call.context.attrs)
    out = sorted(imports)
    out.append("")
    out.extend(classes.values())
    out.append(f"target = resolve_target({target_path!r})")
    if call.context.missing:
        out.append(f"context = PlainContext({ctx_attrs})")
        out.extend(f"del context.{m}" for m in call.context.missing)
    else:
        out.append(f"context = target.make_context({ctx_attrs})")
    out.extend(lines)
    positional = ["context"]
    keywords = []
    for name, _ in call.arguments:
        if name in POSITIONAL_PARAMS or call.positional:
            positional.append(values[name])
        else:
            keywords.append(f"{name}={values[name]}")
    call_args = ", ".join(positional + keywords)
    if call.layer == "boundary":
        out.append("helper = target.boundary_call()")
    else:
        out.append(f"helper = target.helpers[{call.function!r}]")
    out.append(f"with freezegun.freeze_time({literal(call.server_time)}):")
    out.append(f"    print(helper({call_args}))")
    return "\n".join(out) + "\n"
