"""The execution half: what a drawn call goes through before the oracle judges it.

- :mod:`~pytest_actionsec.execution.sandbox`: the time limit, captured logs and
  global-state check around every call of the code under test;
- :mod:`~pytest_actionsec.execution.stages`: pack, store, render, each a factory
  ``(target, config) -> stage`` yielding frozen observations;
- :mod:`~pytest_actionsec.execution.plan`: properties, runs and their results;
- :mod:`~pytest_actionsec.execution.pipeline`: a run's stages and what each layer judges;
- :mod:`~pytest_actionsec.execution.search`: probes, rounds, budget, database keys,
  campaign adoption: one Hypothesis run of a pipeline;
- :mod:`~pytest_actionsec.execution.watchdog` and
  :mod:`~pytest_actionsec.execution.supervisor`: what stops a call no alarm reaches, and
  the parent process that reports a test process that ended early.
"""
