"""The pytest plugin: ``pytest --actionsec``, markers, fixtures, reports.

A thin layer over the core. Loading it imports only pytest and the standard
library: nova, freezegun, oslo and Hypothesis strategies load when the suite
or a fixture is used.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import random
import re
import time
from collections import UserString
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pytest_actionsec.config import (
    ENTRIES,
    FLAGS,
    OPTIONS,
    ConfigError,
    RunConfig,
    parse_bool,
    parse_target,
    parse_text,
    read_config,
)
from pytest_actionsec.constants import DEFAULT_TARGET as DEFAULT_TARGET  # re-exported
from pytest_actionsec.constants import LAYERS, MODES
from pytest_actionsec.registry import REGISTRY
from pytest_actionsec.suite import Suite

if TYPE_CHECKING:
    from pytest_actionsec.canaries import CanaryBox
    from pytest_actionsec.checks import Checker
    from pytest_actionsec.clock import SkewedClock
    from pytest_actionsec.databases import OpenedDatabase
    from pytest_actionsec.engine import Property, RunResult
    from pytest_actionsec.execution.stages import RecordStore
    from pytest_actionsec.oracle import Violation
    from pytest_actionsec.report import BaselineUpdate
    from pytest_actionsec.targets import Target

__all__ = ["ActionsecItem"]

_FLAG = {entry.name: entry.flag for entry in ENTRIES}
OPT_ACTIVE = _FLAG["active"]
OPT_TARGET = _FLAG["target"]
OPT_MODE = _FLAG["mode"]
OPT_EXAMPLES = _FLAG["examples"]
OPT_SEED = _FLAG["seed"]
OPT_REPORT = _FLAG["report"]
OPT_BASELINE = _FLAG["baseline"]
OPT_UPDATE_BASELINE = _FLAG["update_baseline"]
OPT_LAYERS = _FLAG["layers"]
OPT_STORE = _FLAG["store"]
OPT_DATABASE = _FLAG["database"]
OPT_TIMEOUT = _FLAG["timeout"]
OPT_TRUSTED = _FLAG["trusted"]
OPT_BUDGET = _FLAG["budget"]
OPT_MIN_SEVERITY = _FLAG["min_severity"]
OPT_POLICY = _FLAG["policy"]

#: every layer (kept under its old name for the tests and examples that read it)
KNOWN_LAYERS = LAYERS
FIXTURES = (
    "actionsec_target",
    "actionsec_mode",
    "actionsec_canaries",
    "actionsec_clock",
    "actionsec_logs",
    "actionsec_check",
    "actionsec_store",
)
MARKER_HELP = (
    "actionsec(target=None, mode=None, invariants=None, clock=None): an actionsec "
    "security test; choose the target module, the input mode (contract|hostile), the "
    "invariant families or ids to check, and a start time (datetime or True) for the "
    "skewed clock, which is then set before other fixtures."
)


# ---------------------------------------------------------------------------
# Options: registered from the table of :mod:`pytest_actionsec.config`, read into one
# :class:`~pytest_actionsec.config.RunConfig` at configure.


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    import argparse

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.lstrip("_").replace("parse_", "")
    return convert


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the actionsec options and their ini twins."""
    group = parser.getgroup("actionsec", "security property tests of Nova's action packers")
    active, update_baseline = FLAGS
    group.addoption(
        active.flag,
        action="store_const",
        const=True,
        default=None,
        dest=active.ini,
        help=active.help,
    )
    parser.addini(active.ini, active.ini_help, type="bool", default=False)
    for option in OPTIONS:
        help_text = option.help_text()
        if option.repeatable:
            group.addoption(
                option.flag,
                dest=option.ini,
                default=None,
                action="append",
                type=_argparse_type(option.parse),
                metavar=option.flag.rsplit("-", 1)[-1].upper(),
                help=help_text,
            )
            parser.addini(option.ini, help_text, type="linelist", default=[])
            continue
        group.addoption(
            option.flag,
            dest=option.ini,
            default=None,
            type=_argparse_type(option.parse) if option.parse is not parse_text else str,
            metavar=option.flag.rsplit("-", 1)[-1].upper(),
            help=help_text,
        )
        parser.addini(option.ini, help_text, default=None)
    group.addoption(
        update_baseline.flag,
        action="store_const",
        const=True,
        default=None,
        dest=update_baseline.ini,
        help=update_baseline.help,
    )
    parser.addini(update_baseline.ini, update_baseline.ini_help, type="bool", default=False)


def _read_config(config: pytest.Config) -> RunConfig:
    """The run configuration from pytest's command line and ini (a bad value: UsageError)."""
    keys = [entry.ini for entry in ENTRIES]
    try:
        return read_config(
            cli={key: config.getoption(key) for key in keys},
            ini={key: config.getini(key) for key in keys},
        )
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


# ---------------------------------------------------------------------------
# Session state.


class _State:
    """What one pytest process knows about the actionsec run."""

    def __init__(self, config: pytest.Config, settings: RunConfig) -> None:
        self.config = config
        #: the run configuration (its seed chosen)
        self.settings = settings
        if settings.seed is None:
            raise ValueError("the run's seed must be chosen before the session starts")
        self.seed: int = settings.seed
        self._targets: dict[str, Target] = {}
        self._baseline: Any = None
        #: the baseline file as read, every mode's and target's entries (None: no file)
        self.baseline_file: Any = None
        self.payloads: list[dict[str, Any]] = []
        #: the ids of the built-in properties selected (after -k/-m; None: not known yet)
        self.selected: set[str] | None = None
        #: the store URL to open: --actionsec-store, with the password of
        #: ACTIONSEC_STORE_PASSWORD when it names a user and no password
        self.store_url: str | None = _store_url(settings.store)
        #: the masked URL the start-up probe checked (its driver resolved)
        self.store_shown: str | None = None
        #: output files that could not be written at the end (one line each)
        self.write_errors: list[str] = []
        #: True once the session's report file is written
        self.report_written = False
        #: what ``--actionsec-update-baseline`` wrote (None: nothing)
        self.baseline_update: BaselineUpdate | None = None
        #: wall time (epoch seconds) the session started: the controller's under xdist
        self.started: float = config.stash.get(_STARTED, None) or time.time()
        #: the example database, once opened (:meth:`open_database`)
        self.database: OpenedDatabase | None = None
        #: the suite this process runs (the core: runs, store, budget)
        self.suite = Suite(settings, started=self.started, store_url=self.store_url)
        self.user_invariants_before: set[str] = config.stash.get(_USER_INVARIANTS, set())
        #: the policy files read (None: nova's defaults; see :meth:`apply_policies`)
        self.policies: Any = None
        #: the supervised child's side (:mod:`~pytest_actionsec.execution.supervisor`)
        self.supervision: Any = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect the results of built-in properties (also from xdist workers)."""
        if report.when != "call" and not (report.when == "setup" and report.skipped):
            return
        for name, value in report.user_properties:
            if name == "actionsec" and isinstance(value, dict):
                self.payloads.append(value)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start with no results (a config runs one session)."""
        self.payloads.clear()
        self.suite.results.clear()

    @property
    def active(self) -> bool:
        return self.settings.active

    def target(self, path: str | None = None) -> Target:
        """The resolved target (cached); a bad one is a one-line usage error."""
        from pytest_actionsec.targets import TargetError

        try:
            return self.suite.target(path)
        except TargetError as exc:
            if exc.option in ("sink", "boundary", "store_stage", "notifier"):  # flag or ini
                raise pytest.UsageError(f"{self.settings.origins[exc.option]}: {exc}") from None
            raise pytest.UsageError(str(exc)) from None

    def baseline(self) -> Any:
        from pytest_actionsec.report import Baseline, BaselineError

        if self._baseline is None:
            path = self.settings.baseline
            if path is None:
                self._baseline = Baseline.empty()
            else:
                try:
                    self.baseline_file = Baseline.load(
                        self._path(path),
                        missing_ok=self.settings.update_baseline,
                    )
                except BaselineError as exc:
                    raise pytest.UsageError(str(exc)) from None
                # entries naming another mode or target do not apply to this run
                self._baseline = self.baseline_file.scoped(self.settings.mode, self.settings.target)
        return self._baseline

    def apply_policies(self) -> None:
        """Read the deployment's policy files (``--actionsec-policy``) and render with them
        (none: nova's defaults); a file that cannot be used is a one-line usage error."""
        from pytest_actionsec.exposure import use_policies
        from pytest_actionsec.policies import PolicyError, load_policies

        paths = [str(self._path(p)) for p in self.settings.policy]
        try:
            self.policies = load_policies(paths)
        except PolicyError as exc:
            origin = self.settings.origins.get("policy", OPT_POLICY)
            raise pytest.UsageError(f"{origin}: {exc}") from None
        use_policies(self.policies)

    def _path(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.config.invocation_params.dir) / p

    def budget_share(self, session: pytest.Session) -> float:
        """Seconds for the next run (:meth:`Suite.budget_share` over the session's runs;
        under ``--dist loadgroup`` a worker makes about its part of them)."""
        runs = [item.run_id() for item in session.items if isinstance(item, ActionsecItem)]
        workerinput = getattr(self.config, "workerinput", None)
        workers = None
        if workerinput is not None and workerinput.get("actionsec_grouped"):
            workers = max(int(workerinput.get("workercount", 1)), 1)
        return self.suite.budget_share(runs, workers=workers)

    def uses_store(self) -> bool:
        """True when the built-in suite runs a layer that needs the store."""
        return self.settings.uses_store

    def check_store(self) -> None:
        """Probe the store the suite will open (no nova): a failure is a one-line usage error."""
        from pytest_actionsec.store import StoreError, mask_url, probe

        try:
            self.store_shown = probe(self.store_url, io_timeout=self.settings.io_timeout or None)
        except StoreError as exc:
            raise pytest.UsageError(
                f"actionsec: the store layer cannot run: {mask_url(str(exc))}"
            ) from None

    def open_store(self) -> RecordStore:
        """The session's store; one that cannot be opened fails the test (never a skip)."""
        store = self.suite.open_store()
        if store is None:
            pytest.fail(
                self.suite.store_error or "actionsec: the store cannot be opened", pytrace=False
            )
        return store

    def open_database(self) -> None:
        """Open ``--actionsec-database`` for the suite (relative paths from the directory
        pytest was started in): one that cannot be used is a one-line usage error."""
        from pytest_actionsec.databases import DatabaseError, open_database

        spec = self.settings.database
        origin = self.settings.origins.get("database", OPT_DATABASE)
        try:
            self.database = open_database(spec, base=self.config.invocation_params.dir)
        except DatabaseError as exc:
            raise pytest.UsageError(f"{origin}: {exc}") from None
        self.suite.database = self.database.database

    def close_database(self) -> None:
        """Close the example database's connections (if it was opened)."""
        if self.database is not None:
            database, self.database = self.database, None
            database.close()

    def replay_note(self) -> str:
        """What the replay needs besides its flags (the store password's variable), or ''."""
        from pytest_actionsec.store import PASSWORD_ENV, url_password

        if self.uses_store() and self.store_url and url_password(self.store_url) is not None:
            return f"with {PASSWORD_ENV} set to the store's password"
        return ""

    def close(self) -> None:
        from pytest_actionsec.store import StoreError

        try:
            self.suite.close()
        except StoreError as exc:  # the server went away: one line, never a traceback
            import sys

            print(
                f"actionsec: warning: {exc} (the next run on this host drops it)",
                file=sys.stderr,
            )
        self.close_database()
        if self.policies is not None:  # the next in-process session starts from the defaults
            from pytest_actionsec.exposure import use_policies

            use_policies(None)
        # forget invariants registered by this session's conftests (pytester runs)
        for invariant_id in REGISTRY.user_ids() - self.user_invariants_before:
            REGISTRY.remove(invariant_id)


def _store_url(url: str | None) -> str | None:
    """``url`` with the password of ``ACTIONSEC_STORE_PASSWORD`` when it names a user and
    none; the password is remembered for masking."""
    if not url:
        return url
    import os

    from pytest_actionsec.store import remember_secret, url_password, with_env_password

    url = with_env_password(url, os.environ)
    remember_secret(url_password(str(url)))
    return url


def _masked(value: Any) -> Any:
    """``value`` (JSON-like) with every string passed through ``store.mask_url``."""
    from pytest_actionsec.store import mask_url

    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


_STATE = pytest.StashKey[_State]()
_USER_INVARIANTS = pytest.StashKey[set[str]]()
_STARTED = pytest.StashKey[float]()
#: True for the session the process was started for (not a later in-process run)
_OWN_PROCESS = pytest.StashKey[bool]()
_NAMED = pytest.StashKey[frozenset[Path]]()
#: True until this process configured its first session (later ones are in-process runs)
_FIRST_SESSION = [True]


def _process_started() -> float | None:
    """When this process started (epoch seconds, from Linux's ``/proc``), else None."""
    import os

    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


@pytest.hookimpl(tryfirst=True)
@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Remember the user invariants registered before this session's conftests load,
    and when the session started (``--actionsec-budget`` counts the start-up).

    From here on a conftest registering an invariant id twice gets a one-line usage
    error (raised once conftests are loaded), not an import traceback."""
    REGISTRY.defer_errors = True
    early_config.stash[_USER_INVARIANTS] = REGISTRY.user_ids()
    workerinput = getattr(early_config, "workerinput", None)
    started = workerinput.get("actionsec_started") if workerinput is not None else None
    if started is None and _FIRST_SESSION[0]:  # the process's own run: its start-up counts
        started = _process_started()
    early_config.stash[_OWN_PROCESS] = _FIRST_SESSION[0]
    _FIRST_SESSION[0] = False
    early_config.stash[_STARTED] = float(started) if started is not None else time.time()


def _dist_option_given(config: pytest.Config) -> bool:
    option = config.option
    return getattr(option, "dist", "no") != "no" or bool(getattr(option, "distload", False))


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """``-n N`` without ``--dist`` runs the built-in suite with ``--dist loadgroup``.

    Each Hypothesis run's items carry ``xdist_group(run)``, so xdist sends all of
    them to one worker. Runs before xdist's own hook turns ``-n`` into ``--dist load``.
    """
    if getattr(config.option, "numprocesses", None) and not _dist_option_given(config):
        try:
            active = bool(config.getoption("actionsec")) or parse_bool(config.getini("actionsec"))
        except ValueError:
            active = False  # reported as a usage error at configure
        if active:
            config.option.dist = "loadgroup"
    return (yield)


def _state(config: pytest.Config) -> _State:
    return config.stash[_STATE]


def _registry_errors() -> None:
    errors = REGISTRY.take_errors()
    if errors:
        raise pytest.UsageError(errors[0])


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and profiles; read and validate the options."""
    config.addinivalue_line("markers", MARKER_HELP)
    _registry_errors()
    settings = _read_config(config)
    workerinput = getattr(config, "workerinput", None)
    if settings.seed is None and workerinput is not None and "actionsec_seed" in workerinput:
        settings = settings.with_seed(int(workerinput["actionsec_seed"]), "xdist controller")
    if settings.seed is None:
        settings = settings.with_seed(random.SystemRandom().randrange(2**32), "random")
    state = _State(config, settings)
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "actionsec-state")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(state), "actionsec-xdist")
    if state.active and workerinput is None and config.stash.get(_OWN_PROCESS, False):
        _supervise(state)  # from here on the child runs the session
    elif state.active and workerinput is not None and "actionsec_dumps" in workerinput:
        from pytest_actionsec.execution import watchdog

        watchdog.install(os.path.join(workerinput["actionsec_dumps"], workerinput["workerid"]))
    if state.active:
        # the history machine's items (issue 22): a plugin of their own
        config.pluginmanager.import_plugin("pytest_actionsec.history.items")
        # nova is imported only once the test modules are collected (_prepare): a nova
        # checkout's own test package (nova/tests/unit/__init__.py) sets eventlet up on
        # import and must find it not imported yet
        _check_target_found(settings.target)
        if workerinput is None:
            _check_outputs(state)
        if not _distributing(config):  # this process runs the properties
            _import_plainly(_HYPOTHESIS_MODULES)
        if settings.baseline:
            state.baseline()
        if not _distributing(config):  # a controller of workers runs no item
            state.open_database()
        elif settings.database is not None:  # its workers open it: checked once here
            state.open_database()
            state.close_database()
        if workerinput is None:  # the controller checks once; workers open the store
            if state.uses_store():
                state.check_store()  # the server answers (no nova): before collection
                if _distributing(config):  # it collects nothing: nova may be imported now
                    state.target()
                    _check_stages(state)
            if "bus" in settings.layers and settings.bus:  # h-notify: the broker answers
                _check_bus(settings.bus)


def _supervise(state: _State) -> None:
    """Fork the run under a parent that outlives it (``--actionsec-supervise=on``):
    code under test that ends the process fails the run with one line, never exit 0.
    Off, or where it cannot fork, a stuck call's watchdog dumps to stderr."""
    from pytest_actionsec.execution import watchdog

    if state.settings.supervise == "on":
        from pytest_actionsec.execution.supervisor import supervise

        forked = time.time()
        supervision = supervise(lambda ending: _unfinished(state, ending, forked))
        if supervision is not None:
            state.supervision = supervision
            return
    watchdog.install()


def _unfinished(state: _State, ending: Any, forked: float) -> None:
    """In the supervising parent: say in one line how the run ended early, and mark the
    report (when the run wrote none) incomplete."""
    line = f"actionsec: {ending.line(state.settings.time_limit)}"
    os.write(2, f"\n{line}\n".encode("utf-8", "replace"))
    s = state.settings
    if not s.report:
        return
    path = state._path(s.report)
    try:
        if path.stat().st_mtime >= forked:
            return  # the run wrote its report before it ended
    except OSError:
        pass
    from pytest_actionsec import __version__
    from pytest_actionsec.report import write_report

    report = _report_of(
        state,
        properties=[],
        violations=[],
        run={
            "exit_status": ending.status,
            "complete": False,
            "interrupted": False,
            "not_run": [],
            "stopped": line.removeprefix("actionsec: "),
        },
    )
    with contextlib.suppress(Exception):
        write_report(path, report, tool_version=__version__)


def _prepare(config: pytest.Config) -> None:
    """What imports nova, once the test modules are collected: the target (a bad one is
    a one-line usage error; on an xdist worker each item then fails with that line) and
    the deployment's policy files."""
    state = _state(config)
    if getattr(config, "workerinput", None) is not None:
        with contextlib.suppress(pytest.UsageError):
            state.target()
        state.apply_policies()
        return
    state.target()
    state.apply_policies()


def _check_stages(state: _State) -> None:
    """The store and api stages the suite will run, opened for real once (nova's
    migrations, nova's API code and policies): one that cannot run is a one-line usage
    error now, never a failure of every item. The process that runs the items keeps
    the store open for them; an xdist controller closes it (its workers open their own)."""
    if not state.uses_store():
        return
    layers = state.settings.layers
    if state.suite.open_store() is None:
        raise pytest.UsageError(state.suite.store_error or "actionsec: the store cannot be opened")
    if _distributing(state.config):
        state.suite.close()
    if "api" in layers and state.target().nova_records:
        from pytest_actionsec import exposure

        try:
            exposure.warm()
        except Exception as exc:
            line = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise pytest.UsageError(f"actionsec: the api layer cannot run: {line}") from None


def _check_bus(url: str) -> None:
    """A bad bus URL or an unreachable broker is a one-line usage error (masked)."""
    from pytest_actionsec.notifications import BusError, probe_bus

    try:
        probe_bus(url)
    except BusError as exc:
        raise pytest.UsageError(f"actionsec: the bus layer cannot run: {exc}") from None


def _check_outputs(state: _State) -> None:
    """A report or baseline path that cannot be written is a usage error before the run."""
    from pytest_actionsec.report import check_writable

    s = state.settings
    outputs = [(OPT_REPORT, s.report)]
    if s.update_baseline:
        outputs.append((OPT_BASELINE, s.baseline))
    for option, path in outputs:
        if path:
            problem = check_writable(state._path(path))
            if problem is not None:
                raise pytest.UsageError(f"{option}={path}: cannot be written: {problem}")


class _XdistHooks:
    """Hand the controller's seed and start time to every worker (same examples, one budget)."""

    def __init__(self, state: _State) -> None:
        self.state = state
        #: True once the modules of the controller's end were imported
        self.prefetched = False
        #: the folder the workers' watchdogs dump into (made for the first worker)
        self.dumps: str | None = None

    def pytest_configure_node(self, node: Any) -> None:
        if self.state.active:
            if self.dumps is None:
                import tempfile

                self.dumps = tempfile.mkdtemp(prefix="actionsec-workers-")
            # each worker's watchdog dumps there (see pytest_handlecrashitem)
            node.workerinput["actionsec_dumps"] = self.dumps
        node.workerinput["actionsec_seed"] = self.state.seed
        # the session's start: a worker's budget counts the controller's start-up too
        node.workerinput["actionsec_started"] = self.state.started
        # whether each run's items all go to one worker (for the worker's budget share)
        node.workerinput["actionsec_grouped"] = self.state.config.option.dist == "loadgroup"

    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """The built-in properties the workers selected (each worker collects them all)."""
        if self.state.selected is None:
            self.state.selected = _selected(ids)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """When the first worker is done, import what the controller's end needs.

        The report, the summary and Hypothesis's own terminal summary (which imports
        Hypothesis, half a second, in a controller that ran nothing) would otherwise
        be imported after the last worker is done; now they load while the others
        still run, on the core the first one left free.
        """
        if self.prefetched or not self.state.active:
            return
        self.prefetched = True
        _import_plainly(_CONTROLLER_END)

    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        """A worker that died while running ``crashitem``: say why in one line (where
        the watchdog found a call stuck, else that the process ended), and fail the
        other items of its actionsec run, which its death left unjudged."""
        if not self.state.active:
            return
        node = getattr(report, "node", None)
        worker = str(getattr(getattr(node, "gateway", None), "id", "?"))
        from pytest_actionsec.execution import watchdog

        stuck = None
        if self.dumps is not None:
            with contextlib.suppress(OSError):
                stuck = watchdog.stuck_report(Path(self.dumps, worker).read_text(errors="replace"))
        if stuck is not None:
            limit = self.state.settings.time_limit
            line = f"{watchdog.stuck_line(stuck, limit)}, ending worker {worker}"
        else:
            line = (
                f"worker {worker} ended while this ran, before it could report (the code "
                "under test ending the process past the guard, e.g. an os._exit bound at "
                "import, or a crash): not judged"
            )
        report.longrepr = f"actionsec: {line}"
        for nodeid in getattr(sched, "abandoned", {}).pop(crashitem, []):
            where = nodeid.split("::")[0]
            left = pytest.TestReport(
                nodeid=nodeid,
                location=(where, None, where),
                keywords={},
                outcome="failed",
                longrepr=f"actionsec: not judged: its run stopped with {crashitem} ({line})",
                when="call",
            )
            left.node = node  # type: ignore[attr-defined]
            self.state.config.hook.pytest_runtest_logreport(report=left)

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Under ``--dist loadgroup``, every item of one run is one unit of work.

        xdist's own loadgroup needs the worker to rename items (``nodeid@group``),
        which pytest 9's node ids ignore; this scheduler reads an item's run from
        its node id instead (other tests are grouped as xdist does).
        """
        dist = config.getvalue("dist")
        if dist == "loadgroup":
            return _run_scheduler(config, log)
        if dist in ("loadscope", "loadfile") and self.state.active:
            from xdist import scheduler

            base = scheduler.LoadScopeScheduling
            if dist == "loadfile":
                base = scheduler.LoadFileScheduling

            class CrashSafe(base):  # type: ignore[misc,valid-type]
                def remove_node(self, node: Any) -> str | None:
                    return _remove_node(self, node, super().remove_node)

            made = CrashSafe(config, log)
            made.abandoned = {}
            return made
        return None


#: The Hypothesis modules the properties use, imported with Python's own importer.
_HYPOTHESIS_MODULES = (
    "hypothesis",
    "hypothesis.database",
    "hypothesis.errors",
    "hypothesis.reporting",
    "hypothesis.stateful",
    "hypothesis.strategies",
)


def _import_plainly(modules: Iterable[str]) -> None:
    """Import ``modules`` (those not imported yet) past pytest's assertion rewriter.

    pytest rewrites the asserts of every module in a ``pytest11`` plugin's
    distribution, Hypothesis's 80 among them, parsing each from source and ignoring
    its installed bytecode. With bytecode caching off (``PYTHONDONTWRITEBYTECODE``,
    as on CI machines that set it) no rewritten copy is ever cached, and every
    process paid for it again (1.3 to 1.7 s on a slow 2-core machine): each xdist
    worker alike. Hypothesis's own
    asserts are its internal checks, not the user's tests: Python's importer loads
    them from their bytecode, and every module not listed here, and every later
    import, goes through pytest's importers as before. An import error is left to
    the code that needs the module.
    """
    import importlib
    import sys

    missing = [name for name in modules if name not in sys.modules]
    if not missing:
        return
    try:
        from _pytest.assertion.rewrite import AssertionRewritingHook
    except ImportError:  # another pytest: its importers stay
        hooks: list[tuple[int, Any]] = []
    else:
        hooks = [
            (i, f) for i, f in enumerate(sys.meta_path) if isinstance(f, AssertionRewritingHook)
        ]
    for _, hook in hooks:
        sys.meta_path.remove(hook)
    try:
        for name in missing:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    finally:
        for index, hook in hooks:  # each back where it was (an in-process run has two)
            sys.meta_path.insert(index, hook)


#: What the controller imports once the workers are done: the report and the
#: summary's modules, and what Hypothesis's terminal summary imports.
_CONTROLLER_END = (
    "pytest_actionsec.report",
    "pytest_actionsec.locations",
    "pytest_actionsec.oracle",
    "pytest_actionsec.suite",
    "hypothesis.internal.observability",
)

_ITEM_ID = re.compile(r"actionsec\[[^\]-]+-([^\]]+)\](@.*)?")


def _run_scheduler(config: pytest.Config, log: Any) -> Any:
    """An xdist LoadGroupScheduling whose unit of work is one actionsec run."""
    import contextlib

    from xdist.scheduler import LoadGroupScheduling

    from pytest_actionsec.execution.plan import run_of

    class RunScheduling(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            match = _ITEM_ID.fullmatch(nodeid)
            if match is not None:
                function, _, layer = match.group(1).rpartition("-")
                with contextlib.suppress(ValueError):
                    return f"actionsec:{run_of(function, layer).id}"
            return str(super()._split_scope(nodeid))

        def _assign_work_unit(self, node: Any) -> None:
            """Hand out the runs longest first (before anything else), then the other
            tests in xdist's order (with more tests first unless
            ``--no-loadscope-reorder``).

            xdist's own order (by number of tests) would send the history run, two
            items and the suite's longest, last: one worker then runs it alone.
            """
            if not getattr(self, "_by_cost", False):
                self._by_cost = True
                ordered = sorted(enumerate(self.workqueue.items()), key=_cost_key)
                self.workqueue.clear()
                self.workqueue.update(unit for _, unit in ordered)
            super()._assign_work_unit(node)

        def _reschedule(self, node: Any) -> None:
            """No second unit for a worker while an actionsec run it holds has not
            finished its first item (the item that runs it): xdist tops a worker up to
            two units when few of its tests are pending (the history run has two), and
            the longest run would then hold the next one back from the other worker.
            Only while the worker holds two pending items or more: an xdist worker runs
            an item only once it knows the next (or is told to stop), so one pending
            item alone would wait for ever."""
            work = self.assigned_work.get(node, {})
            if self.workqueue and self._pending_of(work) >= 2:
                for scope, unit in work.items():
                    if scope.startswith("actionsec:") and not any(unit.values()):
                        return
            super()._reschedule(node)

        def remove_node(self, node: Any) -> str | None:
            return _remove_node(self, node, super().remove_node)

    scheduler = RunScheduling(config, log)
    #: the items of a run left unjudged when its worker died, by the item it died in
    scheduler.abandoned = {}
    return scheduler


def _remove_node(sched: Any, node: Any, remove: Callable[[Any], Any]) -> str | None:
    """xdist's loadscope ``remove_node`` (``remove``), except that a worker that died
    does not pass the test it was running on (the next worker would die of it too, and
    xdist's controller could wait for ever), nor the rest of that actionsec run
    (``sched.abandoned``: :meth:`_XdistHooks.pytest_handlecrashitem` fails them)."""
    workload = sched.assigned_work.get(node, {})
    crashed = next((n for unit in workload.values() for n, done in unit.items() if not done), None)
    if crashed is not None:
        scope = sched._split_scope(crashed)
        unit = workload[scope]
        unit[crashed] = True
        if scope.startswith("actionsec:"):
            left = [n for n, done in unit.items() if not done]
            unit.update(dict.fromkeys(left, True))
            sched.abandoned[crashed] = left
    remove(node)
    return crashed


def _cost_key(entry: tuple[int, tuple[str, Any]]) -> tuple[int, float, int]:
    """Sort key of xdist's ``(index, (scope, items))``: actionsec's runs first, the
    longest first (:data:`_RUN_COST`); the other scopes after them, in their order."""
    index, (scope, _) = entry
    if scope.startswith("actionsec:"):
        return 0, -_RUN_COST.get(scope.removeprefix("actionsec:"), _DEFAULT_COST), index
    return 1, 0.0, index


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the store database, if one was opened; then make the process's exit quick."""
    state = config.stash.get(_STATE, None)
    if state is not None:
        try:
            state.close()
        finally:
            if state.supervision is not None:  # the parent now takes pytest's exit status
                state.supervision.finished()
        if state.active and config.stash.get(_OWN_PROCESS, False):
            _freeze_for_exit()


def _freeze_for_exit() -> None:
    """Collect the young garbage, then freeze what is left (:func:`gc.freeze`).

    A process that ran the suite holds nova's objects (about 300,000); the
    interpreter's exit and pytest's cleanup would walk them all again in full
    collections, which took 0.5 to 2 s per process here (each xdist worker, and
    the controller waits for them). Only in the session a process was started for,
    as it ends (after the other plugins' ``pytest_unconfigure``, pytest's unraisable
    check among them, which has just made a full collection): what became garbage
    since, in the young generations, is still collected (its finalizers run while
    pytest's unraisable hook is installed), and objects freed by reference counting
    still are.
    """
    import gc

    gc.collect(1)
    gc.freeze()


def _replay_text(state: _State) -> str:
    note = state.replay_note()
    return " ".join(state.settings.replay_flags()) + (f" ({note})" if note else "")


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """Every setting with where it came from, and the flag that replays the run."""
    state = _state(config)
    if not state.active:
        return None
    s = state.settings
    shown = []
    for name in (
        "target",
        "mode",
        "examples",
        "layers",
        "store",
        "database",
        "timeout",
        "budget",
        "min_severity",
        "trusted",
        "sink",
        "boundary",
        "policy",
        "store_stage",
        "notifier",
        "bus",
        "report",
        "baseline",
        "update_baseline",
    ):
        value = getattr(s, name)
        if name == "policy":
            # the files as given (read, with nova's rules, only after collection)
            paths = [str(state._path(p)) for p in s.policy]
            value = ",".join(paths) if paths else "nova defaults"
        elif isinstance(value, tuple):
            value = ",".join(value)
        if value is None:
            value = {
                "store": "sqlite (in-process)",
                "database": "hypothesis profile's",
                "trusted": "default",
                "sink": "default",
                "boundary": "default",
                "store_stage": "default",
                "notifier": "default",
                "bus": "none",
            }.get(name, "-")
        elif name == "store":
            from pytest_actionsec.store import mask_url

            value = state.store_shown or mask_url(str(value))
        elif name == "database":
            from pytest_actionsec.databases import describe

            value = describe(value)
        elif name == "budget":
            value = f"{value:g}s"
        elif name == "bus":
            from pytest_actionsec.credentials import mask_url as masked

            value = masked(str(value))
        shown.append(f"{name}={value} ({s.origins[name]})")
    under_test = _under_test(s.target, config.rootpath)
    workers = ["actionsec: each xdist worker imports the target"] if _distributing(config) else []
    return [
        "actionsec: " + ", ".join(shown),
        under_test,
        *workers,
        f"actionsec: seed {state.seed} ({s.origins['seed']}); replay with {_replay_text(state)}",
    ]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once the target is resolved (after collection): where its parts come from."""
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None or not state.active or getattr(config, "workerinput", None) is not None:
        return
    if not _distributing(config):
        state.selected = _selected(item.nodeid for item in session.items)
        # after -k/-m: a stage is opened only when a selected item needs it
        if any(p.rsplit("-", 1)[-1] in ("store", "api") for p in state.selected):
            _check_stages(state)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.get_verbosity() < 0:  # -q: no header, nor this
        return
    if _distributing(config):  # the header said so: the workers import it
        return
    try:
        target = state.target()
    except pytest.UsageError:
        return
    trusted = ",".join(c.__module__ + "." + c.__qualname__ for c in target.trusted) or "-"
    lines = [
        f"actionsec: boundary={target.boundary_origin}, fault={target.fault_origin}, "
        f"notifier={target.notify_origin}, context={target.context_origin}, trusted={trusted}",
        *(f"actionsec: note: {note}" for note in target.notes),
    ]
    for line in lines:
        reporter.write_line(line)


def _selected(nodeids: Iterable[str]) -> set[str]:
    """The property ids of the built-in items among ``nodeids`` (``actionsec[<id>]``)."""
    return {n[len("actionsec[") : -1] for n in nodeids if n.startswith("actionsec[")}


def _under_test(target: str, root: Path) -> str:
    """``actionsec: under test: nova 34.0.0 at nova/ (editable)``: the distribution and
    the folder of the target's top-level package, found without importing it (a path
    under pytest's rootdir is shown relative to it)."""
    import importlib.metadata
    import importlib.util

    top = target.split(".", 1)[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return f"actionsec: under test: {top} (not importable)"
    where = "?"
    if spec.submodule_search_locations:
        where = str(next(iter(spec.submodule_search_locations), "?"))
    elif spec.origin:
        where = spec.origin
    with contextlib.suppress(ValueError):
        where = Path(where).resolve().relative_to(root.resolve()).as_posix() + "/"
    names = importlib.metadata.packages_distributions().get(top, [])
    version = ""
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            version = f"{name} {importlib.metadata.version(name)}"
            break
    return f"actionsec: under test: {version or top + ' (no distribution)'} at {where}"


# ---------------------------------------------------------------------------
# The built-in suite.


def _replay_line(state: _State, selection: str) -> str:
    """``replay: pytest --actionsec ...`` for one group (target first), and its note."""
    import shlex

    flags = state.settings.replay_flags()
    target = [f for f in flags if f.startswith(OPT_TARGET + "=")]
    rest = [f for f in flags if f not in target]
    line = " ".join(["replay: pytest --actionsec", *target, *rest, "-k", shlex.quote(selection)])
    note = state.replay_note()
    return line + (f"\n        ({note}: the plugin reads it when the URL has none)" if note else "")


class ActionsecFailure(Exception):
    """Unaccepted violations of one built-in property."""

    def __init__(self, new: list[Violation], accepted: list[Violation]) -> None:
        super().__init__(f"{len(new)} violation(s)")
        self.new = new
        self.accepted = accepted


class ActionsecItem(pytest.Item):
    """One built-in property (family x helper x layer).

    The items of one run (a helper, packed directly or through the boundary: see
    :func:`~pytest_actionsec.execution.plan.run_of`) share one Hypothesis run that
    judges, at every layer, the families selected among them (after ``-k``/``-m``);
    the first of them to run starts it, and each reports its own verdict. Under
    xdist they carry ``xdist_group(run)``: ``--dist loadgroup`` (the default with
    ``-n``) sends them to one worker; under another mode a worker runs the run
    itself when it needs it.
    """

    def __init__(self, *, prop: Property, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prop = prop
        self.add_marker("actionsec")
        if self.config.pluginmanager.hasplugin("xdist"):
            self.add_marker(pytest.mark.xdist_group(self.run_id()))
        for word in (prop.family, prop.function, prop.layer):
            self.keywords[word] = True

    def run_id(self) -> str:
        """The id of the run that judges this item, as xdist groups it (before the target
        is resolved: with a boundary, as nova has)."""
        from pytest_actionsec.execution.plan import run_of

        return run_of(self.prop.function, self.prop.layer).id

    def _siblings(self) -> list[ActionsecItem]:
        """The items of this item's run still selected in the session, in suite order."""
        state = _state(self.config)
        state.target()  # resolved (a bad one is a usage error), then the suite's
        run_of = state.suite.run_of
        run = run_of(self.prop)
        return [
            item
            for item in self.session.items
            if isinstance(item, ActionsecItem) and run_of(item.prop) == run
        ] or [self]

    def _judged(self) -> dict[str, tuple[str, ...]]:
        """Families to judge at each layer of this item's run (suite order)."""
        judged: dict[str, dict[str, None]] = {}
        for item in self._siblings():
            judged.setdefault(item.prop.layer, {})[item.prop.family] = None
        judged.setdefault(self.prop.layer, {})[self.prop.family] = None
        return {layer: tuple(fams) for layer, fams in judged.items()}

    def _group_result(self) -> RunResult:
        from pytest_actionsec.store import StoreError, StoreUnavailable

        state = _state(self.config)
        suite = state.suite
        cached = suite.cached(self.prop)  # before the budget's share is taken for a new run
        if cached is not None:
            return cached
        share = None
        if state.settings.budget is not None:
            share = state.budget_share(self.session)
        from pytest_actionsec.notifications import BusError

        try:
            return suite.result(self.prop, self._judged(), seconds=share)
        except (StoreError, BusError, StoreUnavailable) as exc:
            # StoreUnavailable: the environment's fault, this item judged nothing
            failed = str(exc)
        pytest.fail(failed, pytrace=False)  # outside the except: one line, no chain

    def runtest(self) -> None:
        from pytest_actionsec.registry import InvariantError
        from pytest_actionsec.suite import verdict

        state = _state(self.config)
        try:
            result = self._group_result().for_property(self.prop)
        except (InvariantError, pytest.UsageError) as exc:  # a worker's bad target too
            pytest.fail(str(exc), pytrace=False)
        s = state.settings
        judged = verdict(
            result,
            state.baseline(),
            min_severity=s.min_severity,
            update_baseline=s.update_baseline,
        )
        where = fallback = None
        if result.status != "skipped":  # where the function under test is defined (SARIF)
            target = state.target()
            where = target.definition(result.property.function)
            fallback = target.fallback_of(result.property.function, result.property.layer)
        self.user_properties.append(("actionsec", judged.payload(where, fallback=fallback)))
        if result.status == "skipped":
            pytest.skip(result.reason)
        if judged.new:
            raise ActionsecFailure(judged.failures(), list(judged.accepted))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ActionsecFailure):
            from pytest_actionsec.checks import format_violations

            state = _state(self.config)
            failure = excinfo.value
            lines = [
                f"actionsec property {self.prop.id} found {len(failure.new)} new violation(s)"
                + (
                    f" ({len(failure.accepted)} accepted by the baseline)"
                    if failure.accepted
                    else ""
                ),
                format_violations(failure.new),
                *self._via_lines(state),
                "",
                _replay_line(state, self._replay_selection()),
            ]
            from pytest_actionsec.store import mask_url

            return mask_url("\n".join(lines))
        return super().repr_failure(excinfo)

    def _via_lines(self, state: _State) -> list[str]:
        """``via: through nova's ... (fallback)`` when the findings went through it."""
        via = state.target().via(self.prop.function, self.prop.layer)
        return [f"via: {via}"] if via else []

    def _replay_selection(self) -> str:
        """The ``-k`` that selects the items this session ran in this item's run."""
        from pytest_actionsec.oracle import FAMILIES

        siblings = self._siblings()
        layers: dict[str, set[str]] = {}
        for item in siblings:
            layers.setdefault(item.prop.layer, set()).add(item.prop.family)
        function = self.prop.function
        if all(fams >= set(FAMILIES) for fams in layers.values()):
            # every family of each layer: the helper-layer ids select them all
            return " or ".join(f"{function}-{layer}" for layer in layers)
        return " or ".join(item.prop.id for item in siblings)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"actionsec {self.prop.id}"


def actionsec(
    *, target: str | None = None, mode: str | None = None, invariants: Any = None, clock: Any = None
) -> dict[str, Any]:
    """The ``actionsec`` marker's signature: marker arguments are checked by calling it."""
    return {"target": target, "mode": mode, "invariants": invariants, "clock": clock}


def _validate_marker(item: pytest.Item) -> dict[str, Any] | None:
    marker = item.get_closest_marker("actionsec")
    if marker is None or isinstance(item, ActionsecItem):
        return None

    where = f"{item.nodeid}: @pytest.mark.actionsec"
    try:
        values = actionsec(*marker.args, **marker.kwargs)
    except TypeError as exc:
        raise pytest.UsageError(f"{where}: {str(exc).replace('actionsec() ', '')}") from None
    if values["mode"] is not None and values["mode"] not in MODES:
        raise pytest.UsageError(
            f"{where}: mode must be one of {', '.join(MODES)}, got {values['mode']!r}"
        )
    if values["target"] is not None:
        try:
            parse_target(values["target"])
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: target {exc}") from None
    inv = values["invariants"]
    if inv is not None:
        if isinstance(inv, str):
            inv = [inv]
            values["invariants"] = inv
        from pytest_actionsec.oracle import select

        try:
            select(inv)
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from None
    clock = values["clock"]
    if clock is not None and not isinstance(clock, (bool, _dt.datetime)):
        raise pytest.UsageError(f"{where}: clock must be True or a datetime, got {clock!r}")
    return values


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the built-in suite (before -k/-m select) and tag tests using the fixtures."""
    _registry_errors()
    state = _state(config)
    if state.active:
        _prepare(config)
    for item in items:
        values = _validate_marker(item)
        names = getattr(item, "fixturenames", ())
        if values is None and any(name in FIXTURES for name in names):
            item.add_marker("actionsec")
        if values is not None and values["clock"] and isinstance(names, list):
            if "actionsec_clock" in names:
                names.remove("actionsec_clock")
            names.insert(0, "actionsec_clock")
    if not state.active:
        return
    from pytest_actionsec.engine import builtin_properties

    layers = state.settings.layers
    suite: list[pytest.Item | pytest.Collector] = []
    # The longest runs first (xdist then schedules them first: the others fill in).
    for prop in sorted(builtin_properties(layers=layers), key=_run_order):
        name = f"actionsec[{prop.id}]"
        suite.append(ActionsecItem.from_parent(session, name=name, nodeid=name, prop=prop))
    for node in suite:
        config.hook.pytest_itemcollected(item=node)
    # Tell the terminal (and other reporters) these items were collected, so that
    # "collected N items / M deselected" counts them.
    config.hook.pytest_collectreport(
        report=pytest.CollectReport("actionsec", "passed", None, suite)
    )
    items.extend(node for node in suite if isinstance(node, pytest.Item))


#: What a test module holds when it uses the plugin (fixtures, marker, package, options).
_USES_PLUGIN = b"actionsec"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``--actionsec`` (and ``--actionsec-collect=actionsec``, the default) skip the
    test modules that never name the plugin, without importing them: run from a nova
    checkout's root, the built-in suite and the checkout's own actionsec tests are
    collected, not nova's unit tree (whose import expects nova's CONF unparsed and
    eventlet). Files named on the command line are always collected."""
    state = config.stash.get(_STATE, None)
    if state is None or not state.active or state.settings.collect == "all":
        return None
    if collection_path.suffix != ".py" or collection_path.name in ("conftest.py", "__init__.py"):
        return None
    if collection_path.resolve() in _named_paths(config):
        return None
    try:
        with collection_path.open("rb") as fh:
            text = fh.read()
    except OSError:
        return None
    return None if _USES_PLUGIN in text else True


def _named_paths(config: pytest.Config) -> frozenset[Path]:
    """The files named on the command line (``path.py`` or ``path.py::test``)."""
    named = config.stash.get(_NAMED, None)
    if named is None:
        base = config.invocation_params.dir
        named = frozenset(
            (base / arg.split("::", 1)[0]).resolve()
            for arg in config.args
            if arg.split("::", 1)[0].endswith(".py")
        )
        config.stash[_NAMED] = named
    return named


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    """Mask credentials in every test report: failure text, skip reason, captured output."""
    outcome: Any = yield
    import sys

    if "pytest_actionsec.credentials" not in sys.modules:  # nothing was opened or remembered
        return
    report = outcome.get_result()
    _mask_report(report)


def _mask_report(report: Any) -> None:
    from pytest_actionsec.credentials import mask_url

    report.sections = [(title, mask_url(text)) for title, text in report.sections]
    longrepr = report.longrepr
    if longrepr is None:
        return
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        report.longrepr = (longrepr[0], longrepr[1], mask_url(str(longrepr[2])))
        return
    text = str(longrepr)
    masked = mask_url(text)
    if masked != text:
        report.longrepr = masked


#: Cost of one run in seconds (nova 34, 100 examples, every layer, seed 1, idle 2-core
#: machine; ``--durations``): the suite is ordered by it and xdist hands the runs out
#: longest first, so the short ones fill in at the end.
_RUN_COST = {
    "server-history": 2.0,  # the history machine: both its items
    "add_instance_fault_from_exc": 1.5,
    "pack_action_event_finish-boundary": 0.85,
    "notify_about_instance_action": 0.75,
    "pack_action_event_start": 0.65,
    "pack_action_finish": 0.6,
    "pack_action_start": 0.55,
    "pack_action_event_finish": 0.15,  # packed directly: the packer layer only
}
#: A run the table does not know (a fork's own function)
_DEFAULT_COST = 0.6


def _run_order(prop: Property) -> tuple[float, str]:
    """The longest runs first, each run's items together."""
    from pytest_actionsec.execution.plan import run_of

    run = run_of(prop.function, prop.layer).id
    return -_RUN_COST.get(run, _DEFAULT_COST), run


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _distributing(config: pytest.Config) -> bool:
    """True in an xdist controller that sends the tests to workers (xdist's own test).

    Such a controller runs no item, so it does not import nova (seconds to
    import, seconds again at exit): it only checks that the target can be found.
    """
    if _is_worker(config) or not config.pluginmanager.hasplugin("xdist"):
        return False
    if config.getoption("collectonly", False):
        return False
    return config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


def _check_target_found(path: str) -> None:
    """A one-line usage error unless the target module can be found (not imported)."""
    import importlib.util

    try:
        found = importlib.util.find_spec(path) is not None
        missing = path
    except ModuleNotFoundError as exc:  # a parent package is missing
        found, missing = False, exc.name or path
    except Exception as exc:  # a parent package's import failed
        raise pytest.UsageError(
            f"target {path!r} does not import: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    if not found:
        raise pytest.UsageError(f"target {path!r} does not import: no module named {missing!r}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the report and the updated baseline (controller only)."""
    config = session.config
    state = _state(config)
    if not state.active or _is_worker(config):
        return
    s = state.settings
    from pytest_actionsec import __version__
    from pytest_actionsec.report import run_status, write_report

    violations = [v for p in state.payloads for v in p["violations"]]
    if s.report:
        from pytest_actionsec.locations import source_root

        report = _report_of(
            state,
            properties=[p["property"] for p in state.payloads],
            violations=violations,
            # paths relative to the checkout: the git work tree holding the rootdir
            root=source_root(config.rootpath),
            functions={
                p["property"]["function"]: p["source"] for p in state.payloads if p.get("source")
            },
            fallbacks=_fallbacks(state),
            run=run_status(
                int(exitstatus),
                interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
                selected=state.selected or (),
                reported=(str(p["property"]["id"]) for p in state.payloads),
            ),
        )
        try:
            write_report(state._path(s.report), _masked(report), tool_version=__version__)
        except Exception as exc:
            state.write_errors.append(f"{OPT_REPORT}={s.report}: {_why(exc)}")
        else:
            state.report_written = True
    if s.update_baseline:
        try:
            state.baseline_update = _update_baseline(state, _masked(violations))
        except Exception as exc:
            state.write_errors.append(f"{OPT_BASELINE}={s.baseline}: {_why(exc)}")
    if state.write_errors and session.exitstatus in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # lost output is not a green run


def _report_of(state: _State, **parts: Any) -> dict[str, Any]:
    """The JSON report of this session's settings and seed, with ``parts`` (properties,
    violations, run, ...) as :func:`~pytest_actionsec.report.build_report` takes them."""
    from pytest_actionsec.report import build_report

    s = state.settings
    return build_report(
        target=s.target,
        mode=s.mode,
        seed=state.seed,
        examples=s.examples,
        layers=s.layers,
        **parts,
    )


def _fallbacks(state: _State) -> dict[str, str]:
    """Nova's functions the run went through for want of the target's own (by kind),
    from the results (an xdist worker's too)."""
    found: dict[str, str] = {}
    for payload in state.payloads:
        found.update(payload.get("fallbacks") or {})
    return dict(sorted(found.items()))


def _why(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    where = getattr(exc, "filename", None)
    return f"not written ({type(exc).__name__}: {text}" + (f": {where})" if where else ")")


def _update_baseline(state: _State, violations: list[dict[str, Any]]) -> BaselineUpdate:
    """Merge this run's findings into the baseline: what the run covered (properties
    that ran, not skipped; its mode and target) is replaced, the rest kept."""
    from pytest_actionsec.report import update_baseline
    from pytest_actionsec.suite import baseline_scope

    scope = baseline_scope(state.settings, [p["property"] for p in state.payloads])
    return update_baseline(state._path(str(state.settings.baseline)), violations, scope)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """A table: property, helper, layer, examples run, verdict."""
    state = _state(config)
    if not state.active or _is_worker(config):
        return
    from pytest_actionsec.oracle import INVARIANTS
    from pytest_actionsec.report import summary_lines
    from pytest_actionsec.store import mask_url

    s = state.settings
    update = state.baseline_update
    warnings = []
    if state.baseline_file is not None:  # entries that match nothing the plugin knows
        from pytest_actionsec.invariants.history import HISTORY_INVARIANTS
        from pytest_actionsec.suite import known_groups

        known = {*INVARIANTS, *(i.id for i in HISTORY_INVARIANTS)}
        warnings = state.baseline_file.unknown(known, known_groups(), MODES, s.baseline)
    if state.payloads or warnings:
        terminalreporter.write_sep("=", "actionsec summary")
        for line in summary_lines(
            [p["property"] for p in state.payloads],
            seed=state.seed,
            replay=_replay_text(state),
            baseline=s.baseline,
            baseline_written=update.written if update else None,
            baseline_update=update,
            baseline_warnings=warnings,
            report=s.report if state.report_written else None,
            fallbacks=_fallbacks(state),
        ):
            terminalreporter.write_line(mask_url(line))
    for error in state.write_errors:
        terminalreporter.write_line(f"actionsec: ERROR: {mask_url(error)}", red=True, bold=True)


# ---------------------------------------------------------------------------
# Fixtures.
#
# Every fixture is session-scoped, so a ``@given`` test uses them with no health-check
# suppression (Hypothesis's advice: fixtures that are not reset between examples must
# not be function-scoped). Those that depend on the test (its marker, its canaries, its
# clock and logs) stand for the running test's own object: built when the test first
# uses it (the clock and the log capture when the test starts), shared by the test's
# examples, dropped when the test ends (:class:`_PerTest`).


class _TestScope:
    """The running test and the objects the per-test fixtures built for it."""

    def __init__(self) -> None:
        self.item: pytest.Item | None = None
        self.objects: dict[str, Any] = {}
        self.exits = contextlib.ExitStack()

    def get(self, name: str, build: Callable[[pytest.Item], Any]) -> Any:
        """The running test's ``name``, built by ``build(item)`` on first use."""
        if self.item is None:
            raise RuntimeError(f"{name} is used outside a running test")
        if name not in self.objects:
            self.objects[name] = build(self.item)
        return self.objects[name]

    def end(self) -> None:
        """Drop the test's objects; stop its clock and log capture."""
        try:
            self.exits.close()
        finally:
            self.item = None
            self.objects = {}
            self.exits = contextlib.ExitStack()


_SCOPE = pytest.StashKey[_TestScope]()


def _scope(config: pytest.Config) -> _TestScope:
    scope = config.stash.get(_SCOPE, None)
    if scope is None:
        scope = config.stash[_SCOPE] = _TestScope()
    return scope


class _PerTest:
    """A session fixture's value standing for the running test's own object (attributes
    are looked up on it): its repr is one line, never the object's."""

    def __init__(self, config: pytest.Config, name: str, build: Callable[[pytest.Item], Any]):
        self._config = config
        self._name = name
        self._build = build

    def _own(self) -> Any:
        return _scope(self._config).get(self._name, self._build)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self._own(), attr)

    def __getitem__(self, key: Any) -> Any:
        return self._own()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._own())

    def __len__(self) -> int:
        return len(self._own())

    def __contains__(self, value: Any) -> bool:
        return value in self._own()

    def __eq__(self, other: object) -> bool:
        return bool(self._own() == other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._name} of the running test>"


class _TestMode(UserString):
    """``actionsec_mode``: compares, hashes and prints as the running test's mode."""

    def __init__(self, config: pytest.Config) -> None:  # no UserString.__init__: no data
        self._config = config

    @property
    def data(self) -> str:  # UserString's methods read self.data
        return str(_scope(self._config).get("actionsec_mode", _mode_of))

    @data.setter
    def data(self, value: str) -> None:
        raise AttributeError("actionsec_mode is read-only")

    def __repr__(self) -> str:
        return repr(self.data)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Make ``item`` the running test of the per-test fixtures; start its clock (the
    marker's ``clock=``, before any fixture) and log capture when it asks for them."""
    scope = _scope(item.config)
    scope.end()
    scope.item = item
    supervision = _state(item.config).supervision
    if supervision is not None:
        supervision.running(item.nodeid)
    try:
        names = getattr(item, "fixturenames", ())
        if "actionsec_clock" in names:
            scope.get("actionsec_clock", _started_clock)
        if "actionsec_logs" in names:
            scope.get("actionsec_logs", _started_logs)
        return (yield)
    finally:
        scope.end()


def _marker_values(item: pytest.Item) -> dict[str, Any]:
    return _validate_marker(item) or {}


def _target_of(item: pytest.Item) -> Target:
    path = _marker_values(item).get("target")
    try:
        return _state(item.config).target(path)
    except pytest.UsageError as exc:
        pytest.fail(str(exc), pytrace=False)


def _mode_of(item: pytest.Item) -> str:
    mode = _marker_values(item).get("mode")
    return str(mode or _state(item.config).settings.mode)


def _canaries_of(item: pytest.Item) -> CanaryBox:
    from pytest_actionsec.canaries import CanaryBox

    return CanaryBox(seed=(_state(item.config).seed, item.nodeid))


def _started_clock(item: pytest.Item) -> SkewedClock:
    from pytest_actionsec.clock import DEFAULT_START, SkewedClock

    start = _marker_values(item).get("clock")
    clock = SkewedClock(start if isinstance(start, _dt.datetime) else DEFAULT_START)
    return _scope(item.config).exits.enter_context(clock)


def _started_logs(item: pytest.Item) -> list[str]:
    from pytest_actionsec.engine import capture_logs

    lines: list[str] = _scope(item.config).exits.enter_context(capture_logs())
    return lines


def _checker_of(item: pytest.Item) -> Checker:
    from pytest_actionsec.checks import Checker

    scope = _scope(item.config)
    values = _marker_values(item)
    clock = None
    if "actionsec_clock" in getattr(item, "fixturenames", ()):
        clock = scope.get("actionsec_clock", _started_clock)
    box = scope.get("actionsec_canaries", _canaries_of)
    return Checker(
        scope.get("actionsec_target", _target_of),
        invariants=values.get("invariants"),
        clock=clock,
        hostile=scope.get("actionsec_mode", _mode_of) == "hostile",
        canaries=box.canaries,  # shared: planted later still count
    )


@pytest.fixture(scope="session")
def actionsec_target(pytestconfig: pytest.Config) -> Target:
    """The resolved target: the marker's ``target=``, else ``--actionsec-target``."""
    _warm(pytestconfig)
    return cast("Target", _PerTest(pytestconfig, "actionsec_target", _target_of))


@pytest.fixture(scope="session")
def actionsec_mode(pytestconfig: pytest.Config) -> str:
    """The input mode: the marker's ``mode=``, else ``--actionsec-mode`` (a string-like
    value: compare it, or pass it to the strategies' ``mode=``)."""
    return cast(str, _TestMode(pytestconfig))


@pytest.fixture(scope="session")
def actionsec_canaries(pytestconfig: pytest.Config) -> CanaryBox:
    """Plant canaries (``plant(origin)`` returns a token), then ``assert_none_leaked(...)``.

    Tokens come from the session's seed and the test's node id: a seed replays them.
    """
    return cast("CanaryBox", _PerTest(pytestconfig, "actionsec_canaries", _canaries_of))


@pytest.fixture(scope="session")
def actionsec_clock(pytestconfig: pytest.Config) -> SkewedClock:
    """The server clock, frozen while the test runs (from before its first fixture);
    ``move_to``/``shift`` it per example.

    pytest's own timing modules keep the real time. With ``@given`` the examples of
    one test share it on purpose (move it in each example).
    """
    return cast("SkewedClock", _PerTest(pytestconfig, "actionsec_clock", _started_clock))


@pytest.fixture(scope="session")
def actionsec_logs(pytestconfig: pytest.Config) -> list[str]:
    """Every log record emitted while the test runs, as text (for the ``leak`` family)."""
    return cast("list[str]", _PerTest(pytestconfig, "actionsec_logs", _started_logs))


@pytest.fixture(scope="session")
def actionsec_check(pytestconfig: pytest.Config) -> Checker:
    """A :class:`~pytest_actionsec.checks.Checker`: ``run(helper, ctx, ...)`` packs and judges.

    Uses the marker's ``invariants=`` and ``mode=``, the canaries planted with
    ``actionsec_canaries``, and ``actionsec_clock`` when the test uses it. Nova's
    modules are loaded when the session first asks for it, not inside an example
    (so Hypothesis's deadline sees only the check).
    """
    _warm(pytestconfig)
    return cast("Checker", _PerTest(pytestconfig, "actionsec_check", _checker_of))


_WARM = pytest.StashKey[bool]()


def _warm(config: pytest.Config) -> None:
    """Once per session, when a fixture is first set up: resolve the default target,
    load nova's API code and policies (when nova is installed), Hypothesis's character
    tables and its scan of local modules' constants, so none of that is paid inside a
    test's first example (where Hypothesis's deadline and input-speed health check would
    count it)."""
    if config.stash.get(_WARM, False):
        return
    config.stash[_WARM] = True
    from pytest_actionsec.testbase import warm_up

    with contextlib.suppress(pytest.UsageError):
        _state(config).target()
    warm_up()


@pytest.fixture(scope="session")
def actionsec_store(request: pytest.FixtureRequest) -> Any:
    """A ready store built by nova's migrations (``--actionsec-store`` or sqlite)."""
    _warm(request.config)
    state = _state(request.config)
    store = state.open_store()
    _warm_store(state, store)
    return store


def _warm_store(state: _State, store: Any) -> None:
    """One round trip now (the first costs about 0.4 s: SQLAlchemy's mappers and
    statements are built on first use), so a test's first example pays none of it."""
    roundtrip = getattr(store, "roundtrip", None)
    if not callable(roundtrip):
        return
    with contextlib.suppress(Exception):
        target = state.target()
        ctx = target.make_context(user_id="warm", project_id="warm", request_id="req-warm")
        uuid = "00000000-0000-4000-8000-000000000000"
        roundtrip("pack_action_start", target.helpers["pack_action_start"](ctx, uuid, "warm"))
