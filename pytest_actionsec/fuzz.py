"""The built-in properties as ordinary Hypothesis tests, for long campaigns.

One test per run of the built-in suite (``test_<run>_<mode>_<target>``: a helper,
``_boundary`` when packed through the RPC boundary) judging every invariant family
at every layer of ``ACTIONSEC_LAYERS`` it goes through, built by
:func:`pytest_actionsec.execution.search.hypothesis_test`: the same checked function
and pipeline as ``pytest --actionsec`` runs, so what a campaign finds is
replayed first by the next ``pytest --actionsec`` run with the same target and mode
and the same Hypothesis example database (``HYPOTHESIS_STORAGE_DIRECTORY``).

Configured by environment variables, read when the module is imported (by
:func:`pytest_actionsec.config.read_config`, with the plugin's parsers and words):
``ACTIONSEC_TARGET`` (default ``nova.objects.instance_action``), ``ACTIONSEC_MODE``
(``contract`` or ``hostile``), ``ACTIONSEC_LAYERS`` (default ``packer,boundary``;
``store`` and ``api`` use in-process sqlite, or ``ACTIONSEC_STORE``), ``ACTIONSEC_TRUSTED``,
``ACTIONSEC_TIMEOUT`` (seconds, default 10; 0: no limit), ``ACTIONSEC_SINK`` and
``ACTIONSEC_BOUNDARY`` (a dotted path, or ``none``: no fault sink, no boundary test),
``ACTIONSEC_DATABASE`` (the example database, as ``--actionsec-database``: a directory,
``redis://host:port/db``, ``none``, several, ``readonly:``; default the Hypothesis
profile's; not under HypoFuzz, which fuzzes only tests using the profile's). A
bad value (or a target, trusted class, sink, boundary or store that cannot be used) is
a collection error of one line naming the variable. The server clock is frozen once
per process (at the first example, moved per example) and the store opened once.

Run it with pytest (``pytest --pyargs pytest_actionsec.fuzz``, plain Hypothesis,
saved under run_group's own key) or point HypoFuzz at it
(``hypothesis fuzz -- --pyargs pytest_actionsec.fuzz``): under HypoFuzz each test
uses the profile's database itself, as HypoFuzz requires, and ``pytest --actionsec``
adopts the campaign's failures from HypoFuzz's records in that database.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from pytest_actionsec.config import FUZZ_DEFAULTS, OPTIONS, ConfigError, RunConfig, read_config
from pytest_actionsec.engine import builtin_runs, fuzz_test_name, hypothesis_test, pipeline_for
from pytest_actionsec.oracle import FAMILIES

__all__: list[str] = []  # filled with the generated test names below

_IGNORE = ("hypofuzz", "trio", "hypercorn", "starlette", "coverage", "_pytest", "pytest")
#: The variable each setting is read from (``ACTIONSEC_TARGET``, ...).
_ENV = {option.name: option.env for option in OPTIONS if option.env}

#: A bad ``ACTIONSEC_*`` setting (the message is one line naming it).
SettingError = ConfigError


def _stop(message: str) -> NoReturn:
    """Under pytest (or HypoFuzz, which runs pytest's collection): a collection error whose
    report is the one line ``message``; otherwise :class:`ConfigError`."""
    if "_pytest" in sys.modules:
        import pytest  # only under pytest: the module is imported by its collection

        raise pytest.Collector.CollectError(f"pytest_actionsec.fuzz: {message}") from None
    raise ConfigError(message)


def _config() -> RunConfig:
    """The campaign's configuration: the ``ACTIONSEC_*`` variables, else the fuzz defaults."""
    return read_config(env=os.environ, defaults=FUZZ_DEFAULTS)


class _ProcessClock:
    """The server clock, frozen once per process at the first example (never per example)."""

    def __init__(self) -> None:
        self._clock: Any = None

    def _started(self) -> Any:
        if self._clock is None:
            from pytest_actionsec.clock import SkewedClock

            self._clock = SkewedClock(ignore=_IGNORE).start()
            atexit.register(self._clock.stop)
        return self._clock

    def move_to(self, when: Any) -> None:
        self._started().move_to(when)

    def now(self) -> Any:
        return self._started().now()


def _in_hypofuzz() -> bool:
    detection = sys.modules.get("hypofuzz.detection")  # never imported from here
    return bool(detection is not None and detection.in_hypofuzz_run())


def _tests() -> dict[str, Callable[[], None]]:
    from pytest_actionsec.targets import TargetError, resolve_target

    config = _config()
    try:
        target = resolve_target(
            config.target,
            trusted=config.trusted,
            sink=config.sink,
            boundary=config.boundary,
            store_stage=config.store_stage,
        )
    except TargetError as exc:
        name = _ENV[exc.option or "target"]
        raise ConfigError(f"{name}: {exc}") from None
    store = None
    if "store" in config.layers or "api" in config.layers:
        from pytest_actionsec.store import Store, StoreError

        try:
            store = (
                target.store_factory(target) if target.store_factory else Store.open(config.store)
            )
        except StoreError as exc:
            raise ConfigError(f"{_ENV['store']}: {exc}") from None
        atexit.register(store.close)
    clock = _ProcessClock()
    keyed = not _in_hypofuzz()
    database: Any = "default"
    if keyed and config.database is not None:
        from pytest_actionsec.databases import DatabaseError, open_database

        try:
            opened = open_database(config.database)
        except DatabaseError as exc:
            raise ConfigError(f"{_ENV['database']}: {exc}") from None
        atexit.register(opened.close)
        database = opened.database
    tests: dict[str, Callable[[], None]] = {}
    has_boundary = target.boundary is not None
    layers = config.layers
    for run in builtin_runs(layers, has_boundary=has_boundary):
        if run.via == "boundary" and not has_boundary:
            continue
        if run.function not in target.helpers:
            continue
        judged = {layer: tuple(FAMILIES) for layer in run.layers(has_boundary) if layer in layers}
        pipeline = pipeline_for(
            target, run, judged, store=store, clock=clock, timeout=config.time_limit
        )
        test = hypothesis_test(pipeline, mode=config.mode, keyed=keyed, database=database)
        name = fuzz_test_name(run.id, target.path, config.mode)
        test.__name__ = test.__qualname__ = name
        tests[name] = test
    return tests


try:
    _found = _tests()
except ConfigError as _bad:
    _stop(str(_bad))
for _name, _test in _found.items():
    globals()[_name] = _test
    __all__.append(_name)
