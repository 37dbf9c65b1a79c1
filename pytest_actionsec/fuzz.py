"""The built-in properties as ordinary Hypothesis tests, for long campaigns.

One test per run of the built-in suite (``test_<run>_<mode>_<target>``: a helper,
``_boundary`` when packed through the RPC boundary) judging every invariant family
at every layer of ``ACTIONSEC_LAYERS`` it goes through, built by
:func:`pytest_actionsec.execution.search.hypothesis_test`: the same checked function
and pipeline as ``pytest --actionsec`` runs, so what a campaign finds is
replayed first by the next ``pytest --actionsec`` run with the same target and mode
and the same Hypothesis example database (``HYPOTHESIS_STORAGE_DIRECTORY``).

Configured by environment variables, read when the module is imported:
``ACTIONSEC_TARGET`` (default ``nova.objects.instance_action``), ``ACTIONSEC_MODE``
(``contract`` or ``hostile``), ``ACTIONSEC_LAYERS`` (default ``packer,boundary``;
``store`` and ``api`` use in-process sqlite, or ``ACTIONSEC_STORE``), ``ACTIONSEC_TRUSTED``,
``ACTIONSEC_TIMEOUT`` (seconds, default 10; 0: no limit). A bad value (or a target,
trusted class or store that cannot be used) is a collection error of one line naming
the variable. The server clock is frozen once per process (at the first example,
moved per example) and the store opened once.

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

from pytest_actionsec.constants import DEFAULT_TARGET, DEFAULT_TIMEOUT, LAYERS, MODES
from pytest_actionsec.engine import builtin_runs, fuzz_test_name, hypothesis_test, pipeline_for
from pytest_actionsec.oracle import FAMILIES

__all__: list[str] = []  # filled with the generated test names below

_MODES = MODES
_LAYERS = LAYERS
_IGNORE = ("hypofuzz", "trio", "hypercorn", "starlette", "coverage", "_pytest", "pytest")


class SettingError(ValueError):
    """A bad ``ACTIONSEC_*`` setting; the message is one line naming it."""


def _setting(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _stop(message: str) -> NoReturn:
    """Under pytest (or HypoFuzz, which runs pytest's collection): a collection error whose
    report is the one line ``message``; otherwise :class:`SettingError`."""
    if "_pytest" in sys.modules:
        import pytest  # only under pytest: the module is imported by its collection

        raise pytest.Collector.CollectError(f"pytest_actionsec.fuzz: {message}") from None
    raise SettingError(message)


def _config() -> tuple[str, str, tuple[str, ...], tuple[str, ...] | None, float | None]:
    target = _setting("ACTIONSEC_TARGET", DEFAULT_TARGET)
    mode = _setting("ACTIONSEC_MODE", "contract")
    if mode not in _MODES:
        raise SettingError(f"ACTIONSEC_MODE must be one of {', '.join(_MODES)}, got {mode!r}")
    raw_layers = _setting("ACTIONSEC_LAYERS", "packer,boundary")
    layers = tuple(p.strip() for p in raw_layers.split(",") if p.strip())
    if not layers or any(layer not in _LAYERS for layer in layers):
        raise SettingError(
            f"ACTIONSEC_LAYERS must be a comma-separated list of {', '.join(_LAYERS)}, "
            f"got {raw_layers!r}"
        )
    trusted_raw = _setting("ACTIONSEC_TRUSTED", "")
    trusted = tuple(p.strip() for p in trusted_raw.split(",") if p.strip()) or None
    raw_timeout = _setting("ACTIONSEC_TIMEOUT", str(DEFAULT_TIMEOUT))
    try:
        timeout = float(raw_timeout)
    except ValueError:
        timeout = float("nan")
    if not 0 <= timeout < float("inf"):
        bad = f"ACTIONSEC_TIMEOUT must be a number of seconds (0: no limit), got {raw_timeout!r}"
        raise SettingError(bad)
    return target, mode, layers, trusted, (timeout or None)


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

    target_path, mode, layers, trusted, timeout = _config()
    try:
        target = resolve_target(target_path, trusted=trusted)
    except TargetError as exc:
        name = "ACTIONSEC_TRUSTED" if str(exc).startswith("trusted") else "ACTIONSEC_TARGET"
        raise SettingError(f"{name}: {exc}") from None
    store = None
    if "store" in layers or "api" in layers:
        from pytest_actionsec.store import Store, StoreError

        try:
            store = Store.open(os.environ.get("ACTIONSEC_STORE") or None)
        except StoreError as exc:
            raise SettingError(f"ACTIONSEC_STORE: {exc}") from None
        atexit.register(store.close)
    clock = _ProcessClock()
    keyed = not _in_hypofuzz()
    tests: dict[str, Callable[[], None]] = {}
    has_boundary = target.boundary is not None
    for run in builtin_runs(layers, has_boundary=has_boundary):
        if run.via == "boundary" and not has_boundary:
            continue
        if run.function not in target.helpers:
            continue
        judged = {layer: tuple(FAMILIES) for layer in run.layers(has_boundary) if layer in layers}
        pipeline = pipeline_for(target, run, judged, store=store, clock=clock, timeout=timeout)
        test = hypothesis_test(pipeline, mode=mode, keyed=keyed)
        name = fuzz_test_name(run.id, target.path, mode)
        test.__name__ = test.__qualname__ = name
        tests[name] = test
    return tests


try:
    _found = _tests()
except SettingError as _bad:
    _stop(str(_bad))
for _name, _test in _found.items():
    globals()[_name] = _test
    __all__.append(_name)
