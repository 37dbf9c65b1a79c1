"""Generate the reference documentation from the code: ``python -m pytest_actionsec.docs``.

The output (Markdown, written to stdout) is what ``docs/reference.md`` holds;
``tests/test_docs.py`` checks that the file equals it, so the reference cannot
drift from the options, ini keys, marker, fixtures, strategies and invariants
the code defines. Everything is read from the modules themselves:

* options and ini keys: by running :func:`pytest_actionsec.plugin.pytest_addoption`
  against a recorder (so help texts are the ones ``pytest --help`` shows), with
  defaults from ``config.OPTIONS``;
* the marker: ``plugin.MARKER_HELP`` and the signature of ``plugin.actionsec``;
* fixtures: ``plugin.FIXTURES`` and the fixture docstrings;
* strategies: ``strategies.__all__`` and their signatures and docstrings;
* invariants: ``oracle.INVARIANTS`` and ``oracle.FAMILIES``;
* report and baseline format: the docstring of :mod:`pytest_actionsec.report`.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_actionsec import config, plugin

__all__ = ["OptionDoc", "collect_options", "main", "render"]


@dataclass
class OptionDoc:
    """One command-line option and its ini twin."""

    flags: tuple[str, ...]
    ini: str | None
    help: str
    default: str
    kind: str  # "flag" or "value"
    metavar: str | None = None
    ini_type: str = "string"
    #: the environment variable the fuzz module reads it from (None: none)
    env: str | None = None


@dataclass
class _Recorder:
    """Stands in for pytest's parser and option group: records what is registered."""

    options: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)
    inis: dict[str, tuple[str, str | None, Any]] = field(default_factory=dict)

    def getgroup(self, name: str, description: str = "") -> _Recorder:
        return self

    def addoption(self, *names: str, **attrs: Any) -> None:
        self.options.append((names, attrs))

    def addini(
        self, name: str, help: str, type: str | None = None, default: Any = None, **_: Any
    ) -> None:
        self.inis[name] = (help, type, default)


def _show_default(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def collect_options() -> list[OptionDoc]:
    """Every option the plugin registers, in registration order."""
    recorder = _Recorder()
    plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    defaults = {
        option.ini: option.default if option.shown_default is None else option.shown_default
        for option in config.OPTIONS
    }
    envs = {option.ini: option.env for option in config.OPTIONS}
    out = []
    for names, attrs in recorder.options:
        dest = attrs.get("dest")
        ini = dest if isinstance(dest, str) and dest in recorder.inis else None
        flag = attrs.get("action") == "store_const"
        ini_type = (recorder.inis[ini][1] or "string") if ini else "string"
        out.append(
            OptionDoc(
                flags=tuple(names),
                ini=ini,
                help=str(attrs.get("help", "")),
                default="false" if flag else _show_default(defaults.get(str(dest))),
                kind="flag" if flag else "value",
                metavar=attrs.get("metavar"),
                ini_type=ini_type,
                env=envs.get(str(dest)),
            )
        )
    return out


def _annotation(value: Any) -> str:
    if isinstance(value, str):
        return value
    return inspect.formatannotation(value)


def signature(obj: Callable[..., Any]) -> str:
    """``(a: T = 1, *, b: U = None) -> R`` with string annotations unquoted."""
    sig = inspect.signature(obj)
    parts: list[str] = []
    star_done = False
    for param in sig.parameters.values():
        if param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        prefix = ""
        if param.kind is param.VAR_POSITIONAL:
            prefix = "*"
        elif param.kind is param.VAR_KEYWORD:
            prefix = "**"
        if param.kind is param.VAR_POSITIONAL:
            star_done = True
        text = prefix + param.name
        if param.annotation is not param.empty:
            text += f": {_annotation(param.annotation)}"
        if param.default is not param.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    result = f"({', '.join(parts)})"
    if sig.return_annotation is not sig.empty:
        result += f" -> {_annotation(sig.return_annotation)}"
    return result


_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc):`~?(?:[\w.]*\.)?([^`.]+)`")


def _inline(text: str) -> str:
    """reStructuredText inline markup to Markdown: roles and ``literals`` to `code`."""
    text = _ROLE.sub(r"`\1`", text)
    return text.replace("``", "`")


def _md(text: str) -> str:
    """A docstring (reStructuredText) as Markdown: literal blocks fenced, terms listed."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        indented = i + 1 < len(lines) and lines[i + 1].startswith("    ")
        if line.rstrip().endswith("::") and not line.startswith(" "):
            out.append(_inline(line.rstrip()[:-1]))
            i += 1
            block: list[str] = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:])
                i += 1
            while block and not block[0].strip():
                block.pop(0)
            while block and not block[-1].strip():
                block.pop()
            out += ["", "```", *block, "```", ""]
            continue
        if line.strip() and not line.startswith(" ") and indented:
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].startswith("    "):
                body.append(lines[i].strip())
                i += 1
            out.append(f"- {_inline(line.strip())}: {_inline(' '.join(body))}")
            continue
        out.append(_inline(line))
        i += 1
    return "\n".join(out).strip()


def _doc(obj: Any) -> str:
    return _md(inspect.cleandoc(obj.__doc__ or "").strip())


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _fixture_scope(fixture: Any) -> str:
    for attr in ("_fixture_function_marker", "_pytestfixturefunction"):
        marker = getattr(fixture, attr, None)
        if marker is not None:
            return str(getattr(marker, "scope", "function"))
    return "function"


_STATED_DEFAULT = re.compile(r" \(default: (?P<default>[^()]*)\)$")


def _section_options(lines: list[str]) -> None:
    lines += [
        "## Options and ini keys",
        "",
        "Every option has an ini twin (`[pytest]` in `pytest.ini`/`tox.ini`, "
        "`[tool.pytest.ini_options]` in `pyproject.toml`, `[tool:pytest]` in `setup.cfg`), "
        "parsed and checked like the option. The command line wins over the ini file; an "
        "invalid value from either is a usage error (exit 4). The run header shows every "
        "value and where it came from. The environment variable, where there is one, is "
        "what `pytest_actionsec.fuzz` reads instead (it has no command line).",
        "",
        "| option | ini key | environment | default | description |",
        "|---|---|---|---|---|",
    ]
    for opt in collect_options():
        flag = opt.flags[0] if opt.kind == "flag" else f"{opt.flags[0]}={opt.metavar}"
        ini = f"`{opt.ini}`" if opt.ini else "-"
        if opt.ini and opt.ini_type == "bool":
            ini += " (true/false)"
        env = f"`{opt.env}`" if opt.env else "-"
        # the default as --help states it, in its own column
        stated = _STATED_DEFAULT.search(opt.help)
        default = stated["default"] if stated else opt.default
        described = opt.help[: stated.start()] if stated else opt.help
        lines.append(f"| `{flag}` | {ini} | {env} | `{default}` | {_cell(described)} |")
    lines.append("")


def _section_marker(lines: list[str]) -> None:
    lines += [
        "## Marker",
        "",
        f"`@pytest.mark.actionsec{signature(plugin.actionsec).split(' ->')[0]}`",
        "",
        plugin.MARKER_HELP,
        "",
        "Arguments are checked at collection: an unknown argument, mode, invariant or "
        "family is a usage error. Tests that use any `actionsec_*` fixture get the "
        "marker automatically, so `-m actionsec` selects them; the built-in suite's "
        "items carry it too.",
        "",
    ]


def _section_fixtures(lines: list[str]) -> None:
    lines += ["## Fixtures", ""]
    for name in plugin.FIXTURES:
        fixture = getattr(plugin, name)
        lines += [f"### `{name}` ({_fixture_scope(fixture)} scope)", "", _doc(fixture), ""]


def _methods(cls: type) -> Iterable[tuple[str, Any]]:
    for name, member in vars(cls).items():
        if name.startswith("_") or not (callable(member) or isinstance(member, property)):
            continue
        yield name, member


def _section_replay(lines: list[str]) -> None:
    from pytest_actionsec.replay import Replay

    lines += [
        "## Replaying a finding",
        "",
        "A finding's `input` is a script built on `Replay`: `python snippet.py` calls the "
        "target's own function the way of its layer (store and api: on the database of "
        "`ACTIONSEC_STORE`, sqlite when unset) and prints the violations it shows.",
        "",
        f"### `{Replay.__module__}.{Replay.__qualname__}`",
        "",
        _doc(Replay),
        "",
    ]
    for name, member in _methods(Replay):
        lines.append(f"- `{name}{signature(member)}`: {_cell(_doc(member))}")
    lines.append("")


def _section_helpers(lines: list[str]) -> None:
    from pytest_actionsec.canaries import CanaryBox
    from pytest_actionsec.checks import Checker, Outcome
    from pytest_actionsec.clock import SkewedClock

    lines += [
        "## What the fixtures return",
        "",
        "`actionsec_check` returns a `Checker`, `actionsec_canaries` a `CanaryBox`, "
        "`actionsec_clock` a `SkewedClock`; `Checker.run` returns an `Outcome`.",
        "",
    ]
    for cls in (Checker, Outcome, CanaryBox, SkewedClock):
        lines += [f"### `{cls.__module__}.{cls.__qualname__}`", "", _doc(cls), ""]
        for name, member in _methods(cls):
            if isinstance(member, property):
                lines.append(f"- `{name}` (property): {_cell(_doc(member))}")
            else:
                lines.append(f"- `{name}{signature(member)}`: {_cell(_doc(member))}")
        lines.append("")


def _section_strategies(lines: list[str]) -> None:
    from pytest_actionsec import strategies

    lines += [
        "## Strategies",
        "",
        "Public names of `pytest_actionsec.strategies` (its `__all__`). Strategies with a "
        '`mode` argument take `"contract"` (what correct callers pass) or `"hostile"` '
        "(adds out-of-contract input). Objects drawn by the object strategies carry "
        "their planted canaries, which `Checker` finds without being told.",
        "",
        _doc(strategies),
        "",
    ]
    for name in strategies.__all__:
        obj = getattr(strategies, name)
        if isinstance(obj, type):
            lines += [f"### class `{name}`", "", _doc(obj), ""]
        elif callable(obj):
            lines += [f"### `{name}{signature(obj)}`", "", _doc(obj), ""]
        else:
            lines += [f"### `{name}` = `{obj!r}`", ""]


def _section_invariants(lines: list[str]) -> None:
    from pytest_actionsec import registry
    from pytest_actionsec.oracle import INVARIANTS, Observation

    builtins = [inv for inv in INVARIANTS.values() if inv.builtin]
    families = list(dict.fromkeys(inv.family for inv in builtins))
    lines += [
        "## Invariants",
        "",
        f"{len(builtins)} built-in invariants in {len(families)} families "
        f"({', '.join(f'`{f}`' for f in families)}). The built-in suite has one item per "
        "family, helper and layer; the items of one helper and layer share one Hypothesis "
        "run that judges every selected family. A violation names its invariant id. "
        "Families and ids are what the marker's `invariants=` accepts.",
        "",
        "| id | family | statement | source | judges |",
        "|---|---|---|---|---|",
    ]
    for inv in builtins:
        judges = ", ".join(o for o in registry.OUTCOMES if o in inv.outcomes)
        if inv.helpers is not None:
            judges += "; " + ", ".join(sorted(inv.helpers))
        lines.append(
            f"| `{inv.id}` | {inv.family} | {_cell(inv.statement)} | {_cell(inv.source)} "
            f"| {judges} |"
        )
    lines += ["", "### Writing an invariant", "", _doc(registry), ""]
    for obj in (registry.invariant, registry.Finding):
        name = obj.__name__
        if isinstance(obj, type):
            lines += [f"#### class `{name}`", "", _doc(obj), ""]
        else:
            lines += [f"#### `{name}{signature(obj)}`", "", _doc(obj), ""]
    lines += ["#### class `Observation`", "", _doc(Observation), ""]
    for name, member in _methods(Observation):
        lines += [f"- `{name}`: {_inline(_doc(member).splitlines()[0])}"]
    lines.append("")


def _section_report(lines: list[str]) -> None:
    from pytest_actionsec import report

    lines += ["## Report and baseline format", "", _doc(report), ""]


def render() -> str:
    """The whole reference as Markdown."""
    from pytest_actionsec import __version__

    lines = [
        "# pytest-actionsec reference",
        "",
        f"Generated from the code of pytest-actionsec {__version__} by "
        "`python -m pytest_actionsec.docs > docs/reference.md`; do not edit by hand "
        "(`tests/test_docs.py` fails when this file is stale).",
        "",
    ]
    for section in (
        _section_options,
        _section_marker,
        _section_fixtures,
        _section_helpers,
        _section_replay,
        _section_strategies,
        _section_invariants,
        _section_report,
    ):
        section(lines)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the reference to stdout."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
