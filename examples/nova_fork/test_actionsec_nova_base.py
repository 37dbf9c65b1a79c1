"""The same checks inside nova's own test base, as nova's stestr runs them.

Put this file in nova/tests/unit/objects/ of a Nova checkout: ``stestr run
nova.tests.unit.objects.test_actionsec_nova_base`` (or ``tox -e py3 -- ...``) runs it
with nova's CONF fixture, its fatal exception-format errors and its policy fixture in
force. It is stestr's, not pytest's: nova's testtools-based test base does not run
under pytest (nova's own unit tests fail there too), so pytest is told to leave it.
"""

from hypothesis import given, settings
from nova import exception, test

from pytest_actionsec.strategies import exceptions
from pytest_actionsec.testbase import ActionsecChecks


class InstanceFaultLeakTest(ActionsecChecks, test.NoDBTestCase):
    """CVE-2019-14433: a fault a project's member reads holds no exception text."""

    __test__ = False  # pytest: skip (stestr's unittest loader ignores this)
    actionsec_invariants = ["leak"]

    @settings(max_examples=50, deadline=None)
    @given(exc=exceptions())
    def test_fault_shows_members_no_foreign_exception_text(self, exc):
        # nova keeps a code-500 fault's traceback for admins on purpose (bug
        # 1798690): only what a project's own users read fails this test
        self.assertActionsecClean(self.actionsec_fault(exc), min_severity="tenant")

    def test_nova_exception_message_is_stored_as_formatted(self):
        outcome = self.actionsec_fault(exception.InstanceNotFound(instance_id="x"))
        self.assertActionsecClean(outcome)
        self.assertEqual("Instance x could not be found.", outcome.record["message"])
