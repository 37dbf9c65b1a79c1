"""Where code is: a function's definition, the line an exception was raised at.

Findings point at code through these: a function's real module, qualified name,
file and ``def`` line (decorators and the plugin's own wrappers unwrapped), and
for a crash the innermost frame of the traceback outside the plugin itself.
Paths are made relative to the checkout (:func:`source_root`) for SARIF.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SourceLocation",
    "definition",
    "in_checkout",
    "raise_site",
    "real_function",
    "relative_path",
    "source_root",
]

_PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
#: folders of installed code: never the checkout's own source, even inside it (a .venv)
_INSTALLED = frozenset({"site-packages", "dist-packages"})


@dataclass(frozen=True)
class SourceLocation:
    """A file and a line; ``name`` is the dotted name of the function there, if known."""

    path: str
    line: int
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """``{"path", "line"}`` (and ``"name"`` when known)."""
        return {"path": self.path, "line": self.line, **({"name": self.name} if self.name else {})}

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def real_function(func: Any) -> Any:
    """The function ``func`` calls in the end: a static or bound method's function, with
    decorators and wrappers (``__wrapped__``) unwrapped."""
    func = getattr(func, "__func__", func)
    try:
        return inspect.unwrap(func)
    except ValueError:  # a __wrapped__ cycle
        return func


def definition(func: Any) -> SourceLocation | None:
    """Where ``func`` is defined: the function it wraps (``inspect.unwrap``, so nova's own
    sink rather than the plugin's capture wrapper), its module and qualified name (a
    static method's includes its class), its file and the line of its ``def``.
    None when there is no Python source (builtins, C functions)."""
    func = real_function(func)
    try:
        path = inspect.getsourcefile(func)
        lines, first = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None
    if not path:
        return None
    line = first
    for offset, text in enumerate(lines):
        if text.lstrip().startswith(("def ", "async def ")):
            line = first + offset
            break
    module = getattr(func, "__module__", None) or ""
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", "")
    name = f"{module}.{qualname}" if module else str(qualname)
    return SourceLocation(os.path.abspath(path), max(line, 1), name)


def _is_plugin_file(path: str) -> bool:
    return os.path.abspath(path).startswith(_PLUGIN_DIR + os.sep)


def raise_site(error: BaseException, packages: Collection[str] = ()) -> SourceLocation | None:
    """Where ``error`` was raised: the innermost frame of its traceback in the code under
    test (a module of one of the top-level ``packages``, e.g. ``nova``: the line of nova
    that called into a library or the standard library that raised), else the innermost
    frame outside the plugin's own code (its wrappers and drawn input objects, whose
    methods the code under test called), else the innermost frame. None without a
    traceback."""
    tb = error.__traceback__
    innermost: SourceLocation | None = None
    outside: SourceLocation | None = None
    tested: SourceLocation | None = None
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        name = getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+
        here = SourceLocation(os.path.abspath(code.co_filename), tb.tb_lineno, name)
        innermost = here
        if not _is_plugin_file(code.co_filename):
            outside = here
            module = str(frame.f_globals.get("__name__") or "")
            if module.partition(".")[0] in packages:
                tested = here
        tb = tb.tb_next
    return tested or outside or innermost


def source_root(start: str | os.PathLike[str]) -> Path:
    """The checkout holding ``start``: the nearest folder with a ``.git`` (a git work tree
    or worktree), else ``start`` itself."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def in_checkout(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a source file of the checkout at ``root`` (inside it and not
    installed code under a ``site-packages`` folder)."""
    return relative_path(path, root) is not None


def relative_path(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str | None:
    """``path`` relative to ``root`` (POSIX separators) when it is the checkout's own
    source, else None."""
    try:
        rel = Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return None
    if _INSTALLED & set(rel.parts):
        return None
    return rel.as_posix()
