"""A skewed server clock on freezegun: frozen once, moved per example.

Freezing costs about 14 ms with nova imported (freezegun scans every loaded
module), so a :class:`SkewedClock` is started once per test and moved with
:meth:`SkewedClock.move_to` / :meth:`SkewedClock.shift` for each example.
pytest's own timing modules are ignored so ``--durations`` stays right.
freezegun is imported only when a clock starts.

The server's local time zone is :data:`~pytest_actionsec.constants.LOCAL_OFFSET`
ahead of UTC while the clock runs (freezegun's ``tz_offset``, and ``time.timezone`` for
freezegun's ``time.localtime()``): naive local time differs from the UTC time nova
stores, so a helper storing ``datetime.now()`` or ``time.localtime()`` shows it. An aware
``datetime.now(tz)`` (what ``oslo_utils.timeutils.utcnow()`` calls) stays the true
instant: freezegun 1.5 adds its offset there too, which the clock corrects while it runs.
"""

from __future__ import annotations

import datetime as _dt
from types import TracebackType
from typing import Any

from pytest_actionsec.constants import FIXED_TIME, LOCAL_OFFSET

__all__ = ["DEFAULT_START", "IGNORED_MODULES", "SkewedClock"]

#: Where the server clock starts (the test clock's fixed time).
DEFAULT_START = FIXED_TIME

#: Modules whose calls of ``time.time``/``monotonic``/``perf_counter`` keep the real
#: time while the clock is frozen (freezegun looks five frames up the stack;
#: ``datetime.now`` is always frozen). Hypothesis is here so its deadlines and
#: statistics stay right when a test moves the clock.
IGNORED_MODULES: tuple[str, ...] = (
    "hypothesis",
    "_pytest.runner",
    "_pytest.terminal",
    "_pytest.timing",
    "_pytest.junitxml",
    "_pytest.logging",
    "xdist",
    "execnet",
)


def _naive_utc(when: _dt.datetime) -> _dt.datetime:
    if when.tzinfo is not None and when.utcoffset() is not None:
        return when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return when.replace(tzinfo=None)


class SkewedClock:
    """The server's clock (what ``oslo_utils.timeutils.utcnow()`` returns), under control.

    Use as a context manager, or :meth:`start`/:meth:`stop`. :meth:`now` is the
    frozen server time as a naive UTC datetime.
    """

    def __init__(
        self,
        start: _dt.datetime = DEFAULT_START,
        *,
        ignore: tuple[str, ...] = (),
        local_offset: _dt.timedelta = LOCAL_OFFSET,
    ) -> None:
        self._now = _naive_utc(start)
        self._ignore = IGNORED_MODULES + tuple(ignore)
        self._local_offset = local_offset
        self._freezer: Any = None
        self._factory: Any = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._freezer is not None

    def start(self) -> SkewedClock:
        """Freeze the clock at the current setting (once per test)."""
        if self._freezer is None:
            import freezegun

            self._freezer = freezegun.freeze_time(
                self._now, ignore=list(self._ignore), tick=False, tz_offset=self._local_offset
            )
            self._factory = self._freezer.start()
            _aware_now_fixed(True, self._local_offset)
        return self

    def stop(self) -> None:
        """Give the process its real clock back."""
        if self._freezer is not None:
            freezer, self._freezer, self._factory = self._freezer, None, None
            _aware_now_fixed(False, self._local_offset)
            freezer.stop()

    def move_to(self, when: _dt.datetime) -> None:
        """Set the server clock to ``when`` (aware values are converted to naive UTC)."""
        self._now = _naive_utc(when)
        if self._factory is not None:
            self._factory.move_to(self._now)

    def shift(self, delta: _dt.timedelta) -> None:
        """Move the server clock by ``delta``."""
        self.move_to(self._now + delta)

    def now(self) -> _dt.datetime:
        """The server time the clock is set to (naive UTC)."""
        return self._now

    def __enter__(self) -> SkewedClock:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


#: The running clocks' hold on the corrected ``FakeDatetime.now``: [freezegun's own
#: ``now``, how many clocks run, the real ``time.timezone``] while any runs.
_FIXED: list[Any] = []


def _aware_now_fixed(on: bool, offset: _dt.timedelta) -> None:
    """Install (``on``, the first clock) or remove (``not on``, the last one) the
    corrected ``FakeDatetime.now``: an aware ``now(tz)`` is the frozen instant in ``tz``,
    without the local offset freezegun 1.5 adds (its naive ``now()`` keeps the offset).

    Also sets ``time.timezone`` to the first clock's zone meanwhile: freezegun's
    ``time.localtime()`` and ``time.strftime()`` read it, so they show the server's
    local time as ``datetime.now()`` does (the interpreter's own zone is unchanged)."""
    import time

    from freezegun import api

    fake = api.FakeDatetime
    if on:
        if _FIXED:
            _FIXED[1] += 1
            return
        original = fake.__dict__["now"]
        real_zone = time.timezone
        time.timezone = -round(offset.total_seconds())

        def now(cls: Any, tz: _dt.tzinfo | None = None) -> Any:
            frozen = cls._time_to_freeze() if tz is not None else None
            if frozen is None or tz is None:
                return original.__func__(cls, tz)
            return api.datetime_to_fakedatetime(tz.fromutc(frozen.replace(tzinfo=tz)))

        fake.now = classmethod(now)  # type: ignore[method-assign,assignment]
        _FIXED[:] = [original, 1, real_zone]
    elif _FIXED:
        _FIXED[1] -= 1
        if _FIXED[1] == 0:
            fake.now = _FIXED[0]  # type: ignore[method-assign]
            time.timezone = _FIXED[2]
            _FIXED.clear()
