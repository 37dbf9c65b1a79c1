"""Unit tests for pytest_actionsec.clock.SkewedClock (freezegun, with nova imported)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import freezegun.api
import pytest

from pytest_actionsec.clock import DEFAULT_START, IGNORED_MODULES, SkewedClock
from pytest_actionsec.constants import LOCAL_OFFSET
from pytest_actionsec.engine import Property, run_property
from pytest_actionsec.targets import Target, resolve_target

WHEN = dt.datetime(1999, 12, 31, 23, 59, 58)
UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"


@pytest.fixture(scope="module")
def nova_target() -> Target:
    return resolve_target()


def _utcnow() -> dt.datetime:
    from oslo_utils import timeutils

    return timeutils.utcnow()  # type: ignore[no-any-return]


def _is_real_clock() -> bool:
    now = dt.datetime.now()
    return type(now) is dt.datetime and abs(time.time() - now.timestamp()) < 5


def test_now_move_to_and_shift_without_starting() -> None:
    clock = SkewedClock()
    assert clock.now() == DEFAULT_START and not clock.running
    clock.move_to(WHEN)
    assert clock.now() == WHEN
    clock.shift(dt.timedelta(seconds=3))
    assert clock.now() == dt.datetime(2000, 1, 1, 0, 0, 1)
    clock.shift(-dt.timedelta(days=1))
    assert clock.now() == dt.datetime(1999, 12, 31, 0, 0, 1)
    assert _is_real_clock()


def test_aware_values_become_naive_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    clock = SkewedClock(dt.datetime(2030, 1, 1, 2, 0, tzinfo=plus_two))
    assert clock.now() == dt.datetime(2030, 1, 1, 0, 0)
    clock.move_to(dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))))
    assert clock.now() == dt.datetime(2030, 6, 1, 17, 0)
    assert clock.now().tzinfo is None


def test_local_time_is_offset_and_aware_time_is_the_instant() -> None:
    """Naive local time (``now()``, ``fromtimestamp``, ``today``) is LOCAL_OFFSET ahead;
    every aware reading is the frozen instant (freezegun 1.5 alone adds the offset to
    ``now(tz)`` too, which would make nova's UTC clock read local time); nested clocks
    keep the correction until the last stops, and freezegun's own ``now`` comes back."""
    import time

    from freezegun import api

    original = api.FakeDatetime.__dict__["now"]
    tokyo = dt.timezone(dt.timedelta(hours=9))
    with SkewedClock(WHEN):
        assert dt.datetime.fromtimestamp(time.time()) == WHEN + LOCAL_OFFSET
        assert dt.date.today() == (WHEN + LOCAL_OFFSET).date()
        assert dt.datetime.now(tokyo) == WHEN.replace(tzinfo=dt.timezone.utc).astimezone(tokyo)
        with SkewedClock(WHEN + dt.timedelta(days=1)):
            assert _utcnow() == WHEN + dt.timedelta(days=1)
        assert _utcnow() == WHEN  # the outer clock again, still corrected
        assert api.FakeDatetime.__dict__["now"] is not original
    assert api.FakeDatetime.__dict__["now"] is original
    with SkewedClock(WHEN, local_offset=dt.timedelta(0)):
        assert dt.datetime.now() == WHEN


def test_time_localtime_is_the_server_s_local_time_too() -> None:
    """``time.localtime()`` and ``time.strftime()`` (freezegun's, which read
    ``time.timezone``) show the same local time as ``datetime.now()``; ``gmtime`` stays
    UTC, and the real ``time.timezone`` comes back when the last clock stops."""
    import time

    real_zone = time.timezone
    local = WHEN + LOCAL_OFFSET
    with SkewedClock(WHEN):
        with SkewedClock(WHEN):
            assert dt.datetime(*time.localtime()[:6]) == local.replace(microsecond=0)
        assert time.strftime("%Y-%m-%d %H:%M:%S") == local.strftime("%Y-%m-%d %H:%M:%S")
        assert dt.datetime(*time.gmtime()[:6]) == WHEN.replace(microsecond=0)
    assert time.timezone == real_zone


def test_oslo_utcnow_follows_the_clock() -> None:
    with SkewedClock(WHEN) as clock:
        assert clock.running
        assert _utcnow() == WHEN
        assert dt.datetime.utcnow() == WHEN
        assert dt.datetime.now(dt.timezone.utc) == WHEN.replace(tzinfo=dt.timezone.utc)
        # the server's local zone is not UTC: naive local time shows the offset
        assert dt.datetime.now() == WHEN + LOCAL_OFFSET
        clock.move_to(dt.datetime(2038, 1, 19, 3, 14, 8))
        assert _utcnow() == dt.datetime(2038, 1, 19, 3, 14, 8)
        clock.shift(dt.timedelta(microseconds=1))
        assert _utcnow() == dt.datetime(2038, 1, 19, 3, 14, 8, 1)
        assert _utcnow().tzinfo is None
        assert clock.now() == _utcnow()
    assert not clock.running
    assert _is_real_clock()
    assert abs(_utcnow() - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)) < dt.timedelta(
        seconds=5
    )


def test_nova_packers_read_the_clock(nova_target: Target) -> None:
    ctx = nova_target.make_context(request_id="r", timestamp=dt.datetime(2020, 1, 1))
    with SkewedClock(WHEN) as clock:
        record = nova_target.helpers["pack_action_finish"](ctx, UUID)
        assert record["finish_time"] == WHEN and record["updated_at"] == WHEN
        clock.shift(dt.timedelta(hours=1))
        event = nova_target.helpers["pack_action_event_start"](ctx, UUID, "e")
        assert event["start_time"] == WHEN + dt.timedelta(hours=1)
        # the request's clock is the context's, untouched by the server clock
        assert nova_target.helpers["pack_action_start"](ctx, UUID, "a")["start_time"] == (
            dt.datetime(2020, 1, 1)
        )


def test_start_and_stop_are_idempotent() -> None:
    clock = SkewedClock(WHEN)
    try:
        assert clock.start() is clock
        first = clock._freezer
        clock.start()
        assert clock._freezer is first
        assert _utcnow() == WHEN
    finally:
        clock.stop()
    clock.stop()
    assert _is_real_clock()


def test_clock_can_restart_where_it_was_moved() -> None:
    clock = SkewedClock(WHEN)
    clock.move_to(dt.datetime(2001, 1, 1))
    with clock:
        assert _utcnow() == dt.datetime(2001, 1, 1)
    with clock:
        assert _utcnow() == dt.datetime(2001, 1, 1)
    assert _is_real_clock()


def test_real_clock_back_after_an_error() -> None:
    with pytest.raises(RuntimeError), SkewedClock(WHEN):
        raise RuntimeError("x")
    assert _is_real_clock()


def test_pytest_timing_keeps_real_time() -> None:
    from _pytest import timing

    assert "_pytest.timing" in IGNORED_MODULES
    with SkewedClock(WHEN):
        assert timing.time() > dt.datetime(2020, 1, 1).timestamp()
        assert dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) == WHEN


def test_started_once_per_run_not_per_example(
    nova_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    starts: list[Any] = []
    real_start = freezegun.api._freeze_time.start

    def counting_start(self: Any) -> Any:
        starts.append(self)
        return real_start(self)

    monkeypatch.setattr(freezegun.api._freeze_time, "start", counting_start)
    moves: list[dt.datetime] = []

    class CountingClock(SkewedClock):
        def move_to(self, when: dt.datetime) -> None:
            moves.append(when)
            super().move_to(when)

    with CountingClock(WHEN) as clock:
        assert len(starts) == 1
        result = run_property(
            Property("time", "pack_action_event_finish", "packer"),
            nova_target,
            clock=clock,
            max_examples=40,
            seed=5,
            database=None,
        )
        assert clock.running
    assert result.status == "passed", [v.evidence for v in result.violations]
    assert len(starts) == 1
    assert len(moves) == result.examples >= 40
    assert len(set(moves)) > 1
    assert _is_real_clock()


@pytest.mark.parametrize("function", ["pack_action_start", "pack_action_finish"])
def test_time_properties_pass_on_nova_with_a_skewed_clock(
    nova_target: Target, function: str
) -> None:
    with SkewedClock() as clock:
        result = run_property(
            Property("time", function, "packer"),
            nova_target,
            clock=clock,
            max_examples=60,
            seed=11,
            database=None,
        )
    assert result.status == "passed", [v.evidence for v in result.violations]
