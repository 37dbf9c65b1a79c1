"""The checks inside nova's own unittest tests, as stestr runs them (no pytest).

Nova's tests derive from ``nova.test.NoDBTestCase`` or ``nova.test.TestCase`` and run
under stestr, where nova's test base is in force: its CONF fixture, exception message
format errors made fatal, its policy fixture. :class:`ActionsecChecks` is a mixin that
gives such a test the :class:`~pytest_actionsec.checks.Checker` and the target, with
audiences computed from nova's in-code policy defaults (never the test base's policy
file); the strategies of :mod:`pytest_actionsec.strategies` work there with
``@given`` as they do under pytest::

    from hypothesis import given, settings
    from nova import test
    from pytest_actionsec.testbase import ActionsecChecks
    from pytest_actionsec.strategies import exceptions

    class FaultLeakTest(ActionsecChecks, test.NoDBTestCase):
        @settings(max_examples=50, deadline=None)
        @given(exc=exceptions())
        def test_no_tenant_leak(self, exc):
            outcome = self.actionsec_fault(exc)
            self.assertActionsecClean(outcome, min_severity="tenant")

Importing this module imports nothing of nova; the target is resolved on first use.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

from pytest_actionsec.checks import Checker, Outcome, format_violations
from pytest_actionsec.constants import DEFAULT_TARGET
from pytest_actionsec.oracle import Violation
from pytest_actionsec.registry import SEVERITIES, severity_rank
from pytest_actionsec.targets import Target, resolve_target

__all__ = ["ActionsecChecks", "actionsec_target", "warm", "warm_up"]

#: the instance uuid the convenience calls use
UUID = "e3e70682-c209-4cac-629f-6fbed82c07cd"


@functools.cache
def actionsec_target(path: str = DEFAULT_TARGET) -> Target:
    """The resolved target of ``path`` (nova's instance actions by default), once per
    process."""
    return resolve_target(path)


def warm_up() -> None:
    """Load nova's API code and policies (when nova imports) and pay Hypothesis's one-off
    costs (:func:`~pytest_actionsec.strategies.warm_hypothesis`) now, outside any
    test's examples; the plugin's fixtures call it too."""
    import contextlib

    from pytest_actionsec import exposure
    from pytest_actionsec.strategies import warm_hypothesis

    with contextlib.suppress(Exception):  # no nova, or its API does not load: not here
        exposure.warm()
    warm_hypothesis()


def warm(path: str = DEFAULT_TARGET) -> None:
    """Resolve the target of ``path``, then :func:`warm_up`."""
    actionsec_target(path)
    warm_up()


_WARMED: list[str] = []


class ActionsecChecks:
    """Mixin for a ``unittest.TestCase`` (put it before nova's test base class).

    Class attributes choose the target module, the invariant families or ids and the
    input mode; :meth:`actionsec_checker` gives a checker with other choices.
    """

    #: dotted module holding the four pack helpers
    actionsec_target_path: str = DEFAULT_TARGET
    #: invariant families or ids to judge (None: all)
    actionsec_invariants: Sequence[str] | None = None
    #: judge inputs as out-of-contract (hostile mode)
    actionsec_hostile: bool = False

    def setUp(self) -> None:
        """After the test base's own set-up (nova's parses CONF there: nothing here may
        parse it first), once per process: resolve the target, load nova's API code and
        pay Hypothesis's one-off costs, outside the examples."""
        super().setUp()  # type: ignore[misc]
        if not _WARMED:
            _WARMED.append(self.actionsec_target_path)
            warm(self.actionsec_target_path)

    @property
    def actionsec_target(self) -> Target:
        """The target (resolved once per process)."""
        return actionsec_target(self.actionsec_target_path)

    def actionsec_checker(
        self,
        invariants: Sequence[str] | None = None,
        *,
        clock: Any = None,
        hostile: bool | None = None,
    ) -> Checker:
        """A checker on the target: ``run(helper, ctx, ...)`` packs and judges."""
        return Checker(
            self.actionsec_target,
            invariants=invariants if invariants is not None else self.actionsec_invariants,
            clock=clock,
            hostile=self.actionsec_hostile if hostile is None else hostile,
        )

    def actionsec_context(self, **values: Any) -> Any:
        """A request context of the target (a member of project ``p`` by default)."""
        defaults: dict[str, Any] = {
            "user_id": "u",
            "project_id": "p",
            "request_id": "req-" + "0" * 36,
            "is_admin": False,
        }
        defaults.update(values)
        return self.actionsec_target.make_context(**defaults)

    def actionsec_fault(self, exc: BaseException, *, context: Any = None) -> Outcome:
        """Record ``exc`` as an instance fault the way nova's compute manager does
        (raised, then ``add_instance_fault_from_exc`` with ``sys.exc_info()``) and judge
        the fault, rendered through nova's API for each persona."""
        from pytest_actionsec.specs import make_instance

        try:
            raise exc
        except BaseException:
            info = sys.exc_info()
        return self.actionsec_checker().run(
            "add_instance_fault_from_exc",
            context if context is not None else self.actionsec_context(),
            make_instance(UUID),
            exc,
            exc_info=info,
        )

    def assertActionsecClean(
        self, outcome: Outcome | Sequence[Violation], *, min_severity: str = "stored"
    ) -> None:
        """Fail with a readable account when ``outcome`` has violations; leaks read by
        an audience below ``min_severity`` (``stored``, ``admin``, ``bus``, ``tenant``)
        are left out, violations of other families always count."""
        if min_severity not in SEVERITIES:
            raise ValueError(
                f"min_severity must be one of {', '.join(SEVERITIES)}, got {min_severity!r}"
            )
        found = outcome.violations if isinstance(outcome, Outcome) else list(outcome)
        floor = severity_rank(min_severity)
        kept = [v for v in found if not v.severity or severity_rank(v.severity) >= floor]
        if kept:
            fail = getattr(self, "fail", None)
            text = f"{len(kept)} actionsec violation(s):\n" + format_violations(kept)
            if callable(fail):
                fail(text)
            raise AssertionError(text)
