"""One run configuration, read once from the command line, ini files and the environment.

:data:`OPTIONS` and :data:`FLAGS` are the table of every setting (command-line flag, ini
key, the ``ACTIONSEC_*`` variable the fuzz module reads, parser, default, help);
:func:`read_config` turns the three sources into one frozen :class:`RunConfig`. The
plugin calls it with pytest's values (command line over ini over default), the fuzz
module with ``os.environ``. A bad value is a :class:`ConfigError` of one line naming
the option, ini key or variable it came from.

Core module: it imports neither pytest nor nova nor Hypothesis.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pytest_actionsec.constants import (
    DEFAULT_IO_TIMEOUT,
    DEFAULT_LAYERS,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    MODES,
)
from pytest_actionsec.constants import LAYERS as _LAYERS
from pytest_actionsec.registry import SEVERITIES

__all__ = [
    "COLLECT_CHOICES",
    "ENTRIES",
    "FLAGS",
    "FUZZ_DEFAULTS",
    "OPTIONS",
    "SUPERVISE_CHOICES",
    "ConfigError",
    "Flag",
    "Option",
    "RunConfig",
    "parse_bool",
    "parse_budget",
    "parse_bus",
    "parse_collect",
    "parse_database",
    "parse_examples",
    "parse_function",
    "parse_layers",
    "parse_min_severity",
    "parse_mode",
    "parse_path",
    "parse_seed",
    "parse_supervise",
    "parse_target",
    "parse_text",
    "parse_timeout",
    "parse_trusted",
    "read_config",
]


class ConfigError(ValueError):
    """A bad setting; the message is one line naming the option, ini key or variable."""


# ---------------------------------------------------------------------------
# Parsers: each takes the raw text and raises ValueError("must be ..., got '...'").


def _one_of(value: str, choices: tuple[str, ...]) -> str:
    value = str(value).strip()
    if value not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def parse_mode(value: str) -> str:
    """An input mode: ``contract`` or ``hostile``."""
    return _one_of(value, MODES)


#: What ``--actionsec`` collects besides the built-in suite (:data:`COLLECT_ACTIONSEC`:
#: only test modules that use the plugin, so a nova checkout's root collects no unit tree)
COLLECT_CHOICES = ("actionsec", "all")


def parse_collect(value: str) -> str:
    """What to collect beside the built-in suite: ``actionsec`` or ``all``."""
    return _one_of(value, COLLECT_CHOICES)


#: ``--actionsec-supervise``: whether a parent process outlives the test process
SUPERVISE_CHOICES = ("on", "off")


def parse_supervise(value: str) -> str:
    """Whether the run is supervised by a parent process: ``on`` or ``off``."""
    return _one_of(value, SUPERVISE_CHOICES)


def parse_examples(value: str) -> int:
    """A positive whole number of examples."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a positive whole number, got {value!r}") from None
    if number < 1:
        raise ValueError(f"must be a positive whole number, got {value!r}")
    return number


def parse_seed(value: str) -> int:
    """A seed: a whole number (decimal, ``0x``, ``0o`` or ``0b``), not negative."""
    try:
        number = int(str(value).strip(), 0)
    except ValueError:
        raise ValueError(f"must be a whole number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return number


def parse_layers(value: str) -> tuple[str, ...]:
    """A comma-separated, non-empty list of layers."""
    layers = tuple(part.strip() for part in str(value).split(",") if part.strip())
    if not layers or any(layer not in _LAYERS for layer in layers):
        raise ValueError(f"must be a comma-separated list of {', '.join(_LAYERS)}, got {value!r}")
    return layers


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_budget(value: str) -> float:
    """A positive duration in seconds: ``90``, ``90s``, ``10m`` or ``2h``."""
    text = str(value).strip().lower()
    unit = _UNITS.get(text[-1:], None) if text else None
    number = text[:-1] if unit is not None else text
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        raise ValueError(f"must be a duration like 90s, 10m or 2h, got {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"must be a positive duration like 90s, 10m or 2h, got {value!r}")
    return seconds


def parse_timeout(value: str) -> float:
    """Seconds a call may take: a finite number, not negative (0: no limit)."""
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if not 0 <= number < float("inf"):
        raise ValueError(f"must be a number of seconds (0: no limit), got {value!r}")
    return number


def parse_min_severity(value: str) -> str:
    """A leak's audience: ``stored``, ``admin`` or ``tenant``."""
    text = str(value).strip()
    if text not in SEVERITIES:
        raise ValueError(f"must be one of {', '.join(SEVERITIES)}, got {value!r}")
    return text


def parse_target(value: str) -> str:
    """A dotted module path (only its form is checked: nothing is imported)."""
    text = str(value).strip()
    if not text or any(part == "" or not part.isidentifier() for part in text.split(".")):
        raise ValueError(f"must be a dotted module path, got {value!r}")
    return text


def parse_function(value: str) -> str:
    """A function's dotted path (``pkg.mod.func`` or ``pkg.mod.Class.func``; only its form
    is checked: nothing is imported), or ``none`` to turn it off."""
    text = str(value).strip()
    if text.lower() == "none":
        return "none"
    parts = text.split(".")
    if len(parts) < 2 or any(not part.isidentifier() for part in parts):
        raise ValueError(f"must be a dotted path pkg.mod.func or none, got {value!r}")
    return text


def parse_trusted(value: str) -> tuple[str, ...]:
    """Comma-separated dotted exception classes (resolved with the target)."""
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def parse_path(value: str) -> str:
    """A file's path, not empty (only its form is checked: nothing is read)."""
    text = str(value).strip()
    if not text:
        raise ValueError(f"must be a file's path, got {value!r}")
    return text


def parse_bus(value: str) -> str:
    """A message bus's transport URL (``rabbit://user:password@host:5672/``; only its form
    is checked here, the broker at start-up). The error never shows a password."""
    text = str(value).strip()
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme.isidentifier() or not rest.strip("/"):
        from pytest_actionsec.credentials import mask_url

        # whatever comes before an @ may be a password, URL or not
        shown = mask_url(text) if sep else text
        if "@" in shown and "***" not in shown:
            shown = "***@" + shown.rpartition("@")[2]
        raise ValueError(
            f"must be a transport URL like rabbit://user:password@host:5672/, got {shown!r}"
        )
    return text


def parse_text(value: str) -> str:
    """Free text (a path or a URL), taken as given."""
    return str(value)


def parse_database(value: str) -> str:
    """An example database: ``none``, or comma-separated directories and ``redis://``
    URLs, each may be ``readonly:`` (only the form is checked: nothing is opened)."""
    from pytest_actionsec.databases import check_database

    return check_database(value)


def parse_bool(value: object) -> bool:
    """A boolean: ``true``/``false`` words (``1``, ``yes``, ``on``; ``0``, ``no``, ``off``, '')."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


# ---------------------------------------------------------------------------
# The table.


@dataclass(frozen=True)
class Option:
    """One setting taking a value: its command-line flag, ini key and (for the fuzz
    module) environment variable, its parser, default and ``--help`` text."""

    #: the :class:`RunConfig` field it fills
    name: str
    flag: str
    ini: str
    parse: Callable[[str], Any]
    default: Any
    #: what the option does (``--help`` adds the default: see :meth:`help_text`)
    help: str
    #: the variable the fuzz module reads it from (None: the fuzz module does not)
    env: str | None = None
    #: what ``--help`` says of the default when it is not the plain value
    shown_default: str | None = None
    #: given more than once: the flag repeated, the ini key a linelist, the variable
    #: ``os.pathsep``-separated; the value is the tuple of every item parsed
    repeatable: bool = False

    def help_text(self) -> str:
        """The help text with the default, as ``pytest --help`` shows it."""
        shown = self.shown_default
        if shown is None:
            default = self.default
            if isinstance(default, (tuple, list)):
                shown = ",".join(map(str, default))
            elif isinstance(default, float):
                shown = f"{default:g}"
            else:
                shown = "none" if default is None else str(default)
        return f"{self.help} (default: {shown})"


@dataclass(frozen=True)
class Flag:
    """One on/off setting: a command-line flag and a boolean ini key (default off)."""

    name: str
    flag: str
    ini: str
    help: str
    ini_help: str


OPTIONS: tuple[Option, ...] = (
    Option(
        "target",
        "--actionsec-target",
        "actionsec_target",
        parse_target,
        DEFAULT_TARGET,
        "dotted module holding the four pack helpers",
        env="ACTIONSEC_TARGET",
    ),
    Option(
        "mode",
        "--actionsec-mode",
        "actionsec_mode",
        parse_mode,
        "contract",
        "input mode: contract (what correct callers pass) or hostile (adds out-of-contract input)",
        env="ACTIONSEC_MODE",
    ),
    Option(
        "examples",
        "--actionsec-examples",
        "actionsec_examples",
        parse_examples,
        100,
        "Hypothesis examples per built-in property",
    ),
    Option(
        "seed",
        "--actionsec-seed",
        "actionsec_seed",
        parse_seed,
        None,
        "seed for the built-in suite",
        shown_default="random, printed in the header",
    ),
    Option(
        "report",
        "--actionsec-report",
        "actionsec_report",
        parse_text,
        None,
        "write a JSON report to PATH (SARIF 2.1.0 when PATH ends in .sarif)",
        shown_default="none",
    ),
    Option(
        "baseline",
        "--actionsec-baseline",
        "actionsec_baseline",
        parse_text,
        None,
        "JSON file of accepted findings: they are shown but do not fail the run",
        shown_default="none",
    ),
    Option(
        "layers",
        "--actionsec-layers",
        "actionsec_layers",
        parse_layers,
        DEFAULT_LAYERS,
        "comma-separated layers of the built-in suite",
        env="ACTIONSEC_LAYERS",
    ),
    Option(
        "store",
        "--actionsec-store",
        "actionsec_store",
        parse_text,
        None,
        "SQLAlchemy URL of a server database for the store and api layers",
        env="ACTIONSEC_STORE",
        shown_default="in-process sqlite",
    ),
    Option(
        "database",
        "--actionsec-database",
        "actionsec_database",
        parse_database,
        None,
        "Hypothesis example database the built-in suite saves failures to and replays "
        "first: a directory, redis://host:port/db (the redis extra), none, several "
        "comma-separated (all written, all replayed), readonly: before one only read",
        env="ACTIONSEC_DATABASE",
        shown_default="the Hypothesis profile's: .hypothesis/examples",
    ),
    Option(
        "timeout",
        "--actionsec-timeout",
        "actionsec_timeout",
        parse_timeout,
        DEFAULT_TIMEOUT,
        "seconds one helper call may take before it is reported as hung (0: no limit)",
        env="ACTIONSEC_TIMEOUT",
    ),
    Option(
        "io_timeout",
        "--actionsec-io-timeout",
        "actionsec_io_timeout",
        parse_timeout,
        DEFAULT_IO_TIMEOUT,
        "seconds each wait on a server may take (a database connect or statement, the "
        "message bus, Redis) before the connection counts as lost: the environment's "
        "fault, never a finding (0: no limit)",
        env="ACTIONSEC_IO_TIMEOUT",
    ),
    Option(
        "min_severity",
        "--actionsec-min-severity",
        "actionsec_min_severity",
        parse_min_severity,
        "stored",
        "lowest audience of a leak that fails the run: stored (every leak), admin (leaks "
        "an admin, nova's service role or a project's user reads through Nova's API), bus "
        "(leaks the services consuming nova's notifications or a project's user read) or "
        "tenant (leaks a project's user who is no admin reads); leaks read by fewer are "
        "reported, never failing",
    ),
    Option(
        "policy",
        "--actionsec-policy",
        "actionsec_policy",
        parse_path,
        (),
        "oslo.policy file (YAML or JSON) of the deployment, applied over nova's in-code "
        "defaults for the api layer and every leak's audience; give it again for more "
        "files (a later file's rule wins, as policy.d files over policy_file)",
        env="ACTIONSEC_POLICY",
        shown_default="none: nova's in-code defaults",
        repeatable=True,
    ),
    Option(
        "budget",
        "--actionsec-budget",
        "actionsec_budget",
        parse_budget,
        None,
        "wall time of the whole session (90s, 10m, 2h; start-up and xdist workers included): "
        "each helper-layer run gets an equal share of what is left and draws rounds of "
        "--actionsec-examples until its share is spent, cut at its deadline",
        shown_default="none: --actionsec-examples per run",
    ),
    Option(
        "trusted",
        "--actionsec-trusted",
        "actionsec_trusted",
        parse_trusted,
        None,
        "comma-separated exception classes whose format_message() text may be stored",
        env="ACTIONSEC_TRUSTED",
        shown_default="nova.exception.NovaException",
    ),
    Option(
        "sink",
        "--actionsec-sink",
        "actionsec_sink",
        parse_function,
        None,
        "dotted path of the instance-fault sink to fuzz (pkg.mod.func or pkg.mod.Class.func, "
        "whatever its name), or none to skip the fault properties",
        env="ACTIONSEC_SINK",
        shown_default="the target's add_instance_fault_from_exc, else nova's",
    ),
    Option(
        "notifier",
        "--actionsec-notifier",
        "actionsec_notifier",
        parse_function,
        None,
        "dotted path of the instance-action notification sink to fuzz (pkg.mod.func, "
        "whatever its name), or none to skip the notification properties",
        env="ACTIONSEC_NOTIFIER",
        shown_default="the target's notify_about_instance_action, else nova's",
    ),
    Option(
        "bus",
        "--actionsec-bus",
        "actionsec_bus",
        parse_bus,
        None,
        "oslo.messaging transport URL of a message bus (rabbit://user:password@host:5672/): "
        "the notification sink's bus layer sends each notification over it and reads it back",
        env="ACTIONSEC_BUS",
        shown_default="none: no bus layer",
    ),
    Option(
        "boundary",
        "--actionsec-boundary",
        "actionsec_boundary",
        parse_function,
        None,
        "dotted path of the RPC boundary decorator wrapping pack_action_event_finish, or none "
        "to skip the boundary layer",
        env="ACTIONSEC_BOUNDARY",
        shown_default="the target's serialize_args, else nova's",
    ),
    Option(
        "collect",
        "--actionsec-collect",
        "actionsec_collect",
        parse_collect,
        "actionsec",
        "with --actionsec, which test files are collected besides the built-in suite: "
        "actionsec (files that name the plugin: its fixtures, marker or package; files "
        "named on the command line always) or all",
    ),
    Option(
        "supervise",
        "--actionsec-supervise",
        "actionsec_supervise",
        parse_supervise,
        "on",
        "with --actionsec, on: the run's process is watched by a parent that outlives "
        "it, so code under test that ends the process (an os._exit out of the guard's "
        "reach, a watchdog stop) fails the run with one line; off: no parent process",
    ),
    Option(
        "store_stage",
        "--actionsec-store-stage",
        "actionsec_store_stage",
        parse_function,
        None,
        "dotted path of a factory factory(target) -> record store, the store stage of a "
        "project whose records are not nova's (see docs/targets.md), or none",
        env="ACTIONSEC_STORE_STAGE",
        shown_default="the target package's pytest_actionsec.store_stages entry point",
    ),
)

FLAGS: tuple[Flag, ...] = (
    Flag(
        "active",
        "--actionsec",
        "actionsec",
        "collect the built-in property suite (one item per property, helper and layer) "
        "(default: off)",
        "run the built-in suite (like --actionsec)",
    ),
    Flag(
        "update_baseline",
        "--actionsec-update-baseline",
        "actionsec_update_baseline",
        "merge this run's findings into the baseline file (entries of what the run did "
        "not cover are kept) and do not fail on them (default: off)",
        "like --actionsec-update-baseline",
    ),
)

#: The fuzz module's own defaults (by field): no store layer unless asked for.
FUZZ_DEFAULTS: Mapping[str, Any] = MappingProxyType({"layers": ("packer", "boundary")})

#: Every entry of the table: the options, then the flags.
ENTRIES: tuple[Option | Flag, ...] = (*OPTIONS, *FLAGS)

_BY_INI: Mapping[str, str] = MappingProxyType({entry.ini: entry.name for entry in ENTRIES})


# ---------------------------------------------------------------------------
# The configuration.


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one run, parsed, and where each came from.

    ``origins`` maps each field name to its source: the flag (``--actionsec-mode``),
    ``ini <key>``, the variable (``ACTIONSEC_MODE``) or ``default`` (the plugin adds
    ``random`` and ``xdist controller`` for the seed, see :meth:`with_seed`).
    ``config["actionsec_mode"]`` reads a field by its ini key.
    """

    active: bool = False
    target: str = DEFAULT_TARGET
    mode: str = "contract"
    examples: int = 100
    seed: int | None = None
    report: str | None = None
    baseline: str | None = None
    update_baseline: bool = False
    layers: tuple[str, ...] = DEFAULT_LAYERS
    #: left out of the repr: a URL may carry a password
    store: str | None = dataclasses.field(default=None, repr=False)
    #: the example database (see :mod:`pytest_actionsec.databases`); None: the Hypothesis
    #: profile's. Left out of the repr: a Redis URL may carry a password
    database: str | None = dataclasses.field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    #: seconds a wait on a server may take (0: none)
    io_timeout: float = DEFAULT_IO_TIMEOUT
    min_severity: str = "stored"
    budget: float | None = None
    trusted: tuple[str, ...] | None = None
    #: the fault sink's dotted path, ``none`` (off) or None (the target's, else nova's)
    sink: str | None = None
    #: the RPC boundary's dotted path, ``none`` (off) or None (the target's, else nova's)
    boundary: str | None = None
    #: the deployment's policy files, in the order they apply (empty: nova's defaults)
    policy: tuple[str, ...] = ()
    #: the notification sink's dotted path, ``none`` (off) or None (h-notify)
    notifier: str | None = None
    #: the message bus URL of the ``bus`` layer; left out of the repr (a password)
    bus: str | None = dataclasses.field(default=None, repr=False)
    #: the store stage factory's dotted path for records that are not nova's, ``none``
    #: or None (the target package's entry point, if any)
    store_stage: str | None = None
    #: with ``--actionsec``: ``actionsec`` (only test files naming the plugin) or ``all``
    collect: str = "actionsec"
    #: ``on``: a parent process outlives the test process (see ``execution.supervisor``)
    supervise: str = "on"
    origins: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )

    def __getitem__(self, ini_key: str) -> Any:
        """The field an ini key names (``"actionsec_mode"``: :attr:`mode`)."""
        try:
            return getattr(self, _BY_INI[ini_key])
        except KeyError:
            raise KeyError(ini_key) from None

    @property
    def time_limit(self) -> float | None:
        """Seconds a call may take, None for no limit (a timeout of 0)."""
        return self.timeout or None

    @property
    def uses_store(self) -> bool:
        """True when the built-in suite runs and runs a layer that needs the store."""
        return self.active and bool({"store", "api"} & set(self.layers))

    def with_seed(self, seed: int, origin: str) -> RunConfig:
        """A copy with the seed chosen (``origin``: where it came from)."""
        origins = MappingProxyType({**self.origins, "seed": origin})
        return dataclasses.replace(self, seed=seed, origins=origins)

    def replay_flags(self) -> list[str]:
        """The options (shell-quoted) that replay this run, seed first; defaults left out.

        The store URL is printed without its password (the plugin reads it from
        ``ACTIONSEC_STORE_PASSWORD``), and only when a layer uses the store; the example
        database's URLs without theirs.
        """
        import shlex

        flags = [] if self.seed is None else [f"--actionsec-seed={self.seed}"]
        for option in OPTIONS:
            value = getattr(self, option.name)
            if option.name in ("seed", "report") or value in (None, option.default):
                continue
            if option.repeatable:
                flags.extend(shlex.quote(f"{option.flag}={item}") for item in value)
                continue
            if option.name == "store":
                if not self.uses_store:
                    continue  # an unused store does not change the run
                from pytest_actionsec.store import without_password

                value = without_password(str(value))
            elif option.name == "database":
                from pytest_actionsec.databases import without_password as bare

                value = bare(str(value))
            elif option.name == "bus":  # h-notify: never the bus's password either
                from pytest_actionsec.credentials import without_password as no_password

                value = no_password(str(value))
            elif isinstance(value, tuple):
                value = ",".join(value)
            elif option.name == "budget":
                value = f"{value:g}s"
            elif isinstance(value, float):
                value = f"{value:g}"
            flags.append(shlex.quote(f"{option.flag}={value}"))
        return flags


def _unset(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def read_config(
    cli: Mapping[str, object] | None = None,
    ini: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The run configuration from three sources: the first that sets a value wins.

    ``cli`` maps ini keys to command-line values (None: not given; a string is parsed,
    anything else is taken as its parser's result, as argparse's ``type=`` made it);
    ``ini`` maps ini keys to ini values; ``env`` is an environment, read for the options
    that name a variable (an empty variable is unset). ``defaults`` replaces table
    defaults by field name (the fuzz module's :data:`FUZZ_DEFAULTS`). Raises
    :class:`ConfigError` naming the source of a bad value.
    """
    cli, ini, env = cli or {}, ini or {}, env or {}
    chosen = dict(defaults or {})
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for option in OPTIONS:
        value, origin = chosen.get(option.name, option.default), "default"
        raw_cli, raw_ini = cli.get(option.ini), ini.get(option.ini)
        raw_env = env.get(option.env, "").strip() if option.env else ""
        if option.repeatable:
            env_items = [part for part in raw_env.split(os.pathsep) if part.strip()]
            values[option.name], origins[option.name] = _items(option, raw_cli, raw_ini, env_items)
            continue
        try:
            if raw_cli is not None:
                origin = option.flag
                value = option.parse(raw_cli) if isinstance(raw_cli, str) else raw_cli
            elif not _unset(raw_ini):
                origin = f"ini {option.ini}"
                value = option.parse(str(raw_ini))
            elif raw_env:
                origin = str(option.env)
                value = option.parse(raw_env)
        except ValueError as exc:
            raise ConfigError(_where(origin, option.ini, option.flag) + str(exc)) from None
        values[option.name], origins[option.name] = value, origin
    for flag in FLAGS:
        raw_cli, raw_ini = cli.get(flag.ini), ini.get(flag.ini)
        if raw_cli is not None and raw_cli is not False:
            values[flag.name], origins[flag.name] = True, flag.flag
            continue
        try:
            on = parse_bool(raw_ini) if raw_ini is not None else False
        except ValueError as exc:
            raise ConfigError(f"ini option {flag.ini} {exc}") from None
        values[flag.name], origins[flag.name] = on, (f"ini {flag.ini}" if on else "default")
    if values["update_baseline"] and not values["baseline"]:
        raise ConfigError("--actionsec-update-baseline needs --actionsec-baseline=PATH")
    # h-notify: a bus adds the bus layer to the default layers; the bus layer needs one
    if values["bus"] and origins["layers"] == "default":
        values["layers"] = (*values["layers"], "bus")
    if "bus" in values["layers"] and not values["bus"]:
        raise ConfigError("the bus layer needs a message bus: --actionsec-bus=URL")
    return RunConfig(**values, origins=MappingProxyType(origins))


def _items(option: Option, *raws: Any) -> tuple[tuple[Any, ...], str]:
    """A repeatable option's items from the first source giving some (command line, ini
    linelist, variable), each parsed, and that source."""
    raw_cli, raw_ini, raw_env = raws
    for raw, origin in (
        (raw_cli, option.flag),
        (raw_ini, f"ini {option.ini}"),
        (raw_env, str(option.env)),
    ):
        if isinstance(raw, str):
            raw = raw.splitlines() if origin.startswith("ini ") else [raw]
        items = [item for item in raw or () if not _unset(item)]
        if items:
            try:
                return tuple(option.parse(str(item)) for item in items), origin
            except ValueError as exc:
                raise ConfigError(_where(origin, option.ini, option.flag) + str(exc)) from None
    return tuple(option.default), "default"


def _where(origin: str, ini: str, flag: str) -> str:
    """How an error names its source: as argparse, pytest's ini errors, or the variable."""
    if origin == flag:
        return f"argument {flag}: "
    if origin == f"ini {ini}":
        return f"ini option {ini} "
    return f"{origin} "
