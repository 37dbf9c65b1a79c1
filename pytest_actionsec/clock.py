"""A skewed server clock on freezegun: frozen once, moved per example.

Freezing costs about 14 ms with nova imported (freezegun scans every loaded
module), so a :class:`SkewedClock` is started once per test and moved with
:meth:`SkewedClock.move_to` / :meth:`SkewedClock.shift` for each example.
pytest's own timing modules are ignored so ``--durations`` stays right.
freezegun is imported only when a clock starts.
"""

from __future__ import annotations

import datetime as _dt
from types import TracebackType
from typing import Any

from pytest_actionsec.constants import FIXED_TIME

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
        self, start: _dt.datetime = DEFAULT_START, *, ignore: tuple[str, ...] = ()
    ) -> None:
        self._now = _naive_utc(start)
        self._ignore = IGNORED_MODULES + tuple(ignore)
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

            self._freezer = freezegun.freeze_time(self._now, ignore=list(self._ignore), tick=False)
            self._factory = self._freezer.start()
        return self

    def stop(self) -> None:
        """Give the process its real clock back."""
        if self._freezer is not None:
            freezer, self._freezer, self._factory = self._freezer, None, None
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
