"""Tiny misbehaving targets for tests/test_robustness.py.

Each module wraps the zoo's safe packer (:mod:`tests.zoo.safe`) and breaks it in
one way: unexpected errors, hangs, non-dict returns, extra keys, changed
process-global state, nasty record values, missing helpers.
"""
