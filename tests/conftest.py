"""Fixtures shared by the zoo and demo tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import Phase, settings

_NO_SHRINK = "actionsec-tests-no-shrink"


@pytest.fixture
def no_shrink() -> Iterator[None]:
    """Skip Hypothesis's shrink phase: a mutant only has to be caught, not minimised.

    Detection happens in the generate phase, so verdicts and example counts are
    unchanged; the previous settings profile is restored afterwards.
    """
    previous = settings.get_current_profile_name()
    settings.register_profile(
        _NO_SHRINK, settings.default, phases=[Phase.explicit, Phase.reuse, Phase.generate]
    )
    settings.load_profile(_NO_SHRINK)
    try:
        yield
    finally:
        settings.load_profile(previous)
