"""A deployment's policy files (``--actionsec-policy``), read and checked against nova.

Operators override nova's in-code default policies with oslo.policy files (YAML, or
JSON, which is YAML too): a mapping of rule names to check strings. :func:`load_policies`
reads the files given, in order (a later file's rule replaces an earlier one's, as
oslo.policy applies ``policy.d`` files over the main ``policy_file``), and refuses, with
one :class:`~pytest_actionsec.errors.PolicyError` line naming the file and the rule:

* a file that cannot be read, or is not a mapping of rule names to check strings;
* a check string oslo.policy's parser cannot understand (oslo.policy would log it and
  deny everyone: a typo silently closing, or opening, an API);
* a rule name nova does not define (neither one of its in-code defaults nor the
  deprecated name of one), unless another rule of the files refers to it (``rule:NAME``,
  a helper rule of the deployment's own);
* a reference ``rule:NAME`` to a rule neither nova nor the files define, or a circle of
  references.

The :class:`PolicySet` it returns is what :mod:`pytest_actionsec.exposure` renders with,
through nova's own enforcer on top of nova's defaults. oslo.policy is reached through
:func:`pytest_actionsec.nova.policies` (nova's policy rules, not its API code).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_actionsec.errors import PolicyError, read_bounded

__all__ = ["PolicyError", "PolicyFile", "PolicySet", "load_policies"]


@dataclass(frozen=True)
class PolicyFile:
    """One policy file as read: its absolute path and its rules, in file order."""

    path: str
    rules: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PolicySet:
    """The policy files of a deployment, in the order they apply (hashable: a cache key)."""

    files: tuple[PolicyFile, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        """The files' paths, in order."""
        return tuple(f.path for f in self.files)

    def merged(self) -> dict[str, str]:
        """Every rule the files set (a later file's wins)."""
        out: dict[str, str] = {}
        for policy_file in self.files:
            out.update(policy_file.rules)
        return out

    def describe(self) -> str:
        """The paths, comma-separated (for the header and messages)."""
        return ",".join(self.paths)


@contextlib.contextmanager
def _parser_errors(logger_name: str) -> Iterator[list[str]]:
    """What oslo.policy's rule parser logs while parsing (it logs and returns a deny-all
    check instead of raising): collected, not shown."""
    found: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record.getMessage())

    logger = logging.getLogger(logger_name)
    handler = _Collect(logging.WARNING)
    previous = (logging.root.manager.disable, logger.propagate, logger.level)
    logging.disable(logging.NOTSET)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logging.disable(previous[0])
        logger.propagate = previous[1]
        logger.setLevel(previous[2])


def _references(check: Any, rule_check: type) -> Iterator[str]:
    """The rule names a parsed check refers to (``rule:NAME``)."""
    if isinstance(check, rule_check):
        yield str(getattr(check, "match", ""))
    for child in getattr(check, "rules", None) or ():
        yield from _references(child, rule_check)
    inner = getattr(check, "rule", None)
    if inner is not None and not isinstance(inner, str):
        yield from _references(inner, rule_check)


def _read(path: str, oslo: Any) -> dict[str, Any]:
    try:
        data = read_bounded(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError(f"policy file {path}: cannot be read: {reason}") from None
    try:
        parsed = oslo.parse_file_contents(data)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no content"
        raise PolicyError(f"policy file {path}: not YAML or JSON: {first}") from None
    except RecursionError:
        raise PolicyError(f"policy file {path}: nested too deeply to read") from None
    if not isinstance(parsed, Mapping):
        raise PolicyError(
            f"policy file {path}: must map rule names to check strings, "
            f"not a {type(parsed).__name__}"
        )
    return dict(parsed)


def load_policies(paths: Sequence[str]) -> PolicySet | None:
    """The policy files ``paths`` (absolute, or relative to the working directory) read
    and checked against nova's rules; None for no files (nova's defaults)."""
    if not paths:
        return None
    from pytest_actionsec.nova import policies as nova_policies

    nova = nova_policies()
    oslo = nova.oslo
    known: set[str] = set()
    for default in nova.defaults:
        known.add(default.name)
        deprecated = getattr(default, "deprecated_rule", None)
        if deprecated is not None:
            known.add(deprecated.name)
    files: list[PolicyFile] = []
    parsed_checks: dict[str, tuple[str, Any]] = {}  # rule -> (path, parsed check)
    for raw in paths:
        path = str(Path(raw).expanduser().absolute())
        rules = _read(path, oslo)
        kept: list[tuple[str, str]] = []
        for name, check in rules.items():
            if not isinstance(name, str) or not name.strip():
                raise PolicyError(f"policy file {path}: rule name {name!r} is not a name")
            if not isinstance(check, str):
                raise PolicyError(
                    f"policy file {path}: rule {name!r}: the check must be a string, "
                    f"not {type(check).__name__}"
                )
            with _parser_errors(nova.parser_logger) as errors:
                parsed = oslo.Rules.from_dict({name: check})[name]
            if errors:
                raise PolicyError(
                    f"policy file {path}: rule {name!r}: oslo.policy cannot parse "
                    f"{check!r} ({errors[0].splitlines()[0]})"
                )
            parsed_checks[name] = (path, parsed)
            kept.append((name, check))
        files.append(PolicyFile(path, tuple(kept)))
    referenced = {
        ref for _, check in parsed_checks.values() for ref in _references(check, oslo.RuleCheck)
    }
    defined = known | set(parsed_checks)
    for name, (path, check) in parsed_checks.items():
        if name not in known and name not in referenced:
            raise PolicyError(
                f"policy file {path}: rule {name!r} is not a rule nova defines "
                "(nor one another rule of the policy files refers to)"
            )
        for ref in _references(check, oslo.RuleCheck):
            if ref not in defined:
                raise PolicyError(
                    f"policy file {path}: rule {name!r} refers to rule:{ref}, which "
                    "neither nova nor the policy files define"
                )
    edges = {d.name: set(_references(d.check, oslo.RuleCheck)) for d in nova.defaults}
    edges.update((n, set(_references(c, oslo.RuleCheck))) for n, (_, c) in parsed_checks.items())
    _check_circles({n: p for n, (p, _) in parsed_checks.items()}, edges)
    return PolicySet(tuple(files))


def _check_circles(files: Mapping[str, str], edges: Mapping[str, set[str]]) -> None:
    """A rule of the files (``files``: rule -> path) that refers back to itself, through
    the rules in force (``edges``: each rule's references, the files' over nova's)."""

    def reaches(start: str) -> bool:
        seen: set[str] = set()
        todo = list(edges.get(start, ()))
        while todo:
            current = todo.pop()
            if current == start:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(edges.get(current, ()))
        return False

    for name, path in files.items():
        if reaches(name):
            raise PolicyError(f"policy file {path}: rule {name!r} refers to itself (a circle)")
