"""conftest.py a Nova fork adds next to its security tests (e.g. nova/tests/unit/objects/).

pytest-actionsec is a pytest plugin: once installed (test-requirements.txt) its
fixtures and the ``actionsec`` marker are available everywhere, nothing needs
importing here. This file only sets Hypothesis profiles and a context helper.
"""

from __future__ import annotations

import datetime
import os
import warnings

import pytest
from hypothesis import settings

# The actionsec fixtures are session-scoped (each stands for the running test's own
# object), so @given tests use them with no health-check suppression. Profiles only
# choose how many examples a run draws.
settings.register_profile("dev", max_examples=25)
settings.register_profile("nightly", max_examples=1000)
# `pytest --hypothesis-profile=nightly` overrides this default.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def make_context(actionsec_canaries):
    """A real nova RequestContext whose secret attributes hold planted canaries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet deprecation noise on first import
        from nova import context as nova_context

    def make(**overrides):
        values = {
            "user_id": "fake-user",
            "project_id": "fake-project",
            "request_id": "req-" + "0" * 36,
            "is_admin": False,
            "auth_token": actionsec_canaries.plant("context.auth_token"),
            "remote_address": "10.0.0.1",
            "timestamp": datetime.datetime(2026, 11, 22, 12, 0, 0),
        }
        values.update(overrides)
        return nova_context.RequestContext(**values)

    return make
