"""The zoo: small packer modules, each with exactly one planted regression, and a safe one.

:data:`MUTANTS` maps each mutant module to the invariant family its regression
breaks; every mutant reuses the correct implementation in :mod:`tests.zoo._base`
(packers, boundary and the instance-fault sink ``add_instance_fault_from_exc``, which
every zoo module defines so that none falls back to nova's) and changes one thing.
:data:`SAFE` is that implementation unchanged.
"""

from __future__ import annotations

__all__ = ["KNOWN_GAPS", "MUTANTS", "SAFE", "SINK_MUTANTS"]

SAFE = "tests.zoo.safe"

MUTANTS: dict[str, str] = {
    "tests.zoo.m_leak_str_fallback": "leak",
    "tests.zoo.m_leak_repr": "leak",
    "tests.zoo.m_leak_cause": "leak",
    "tests.zoo.m_leak_locals": "leak",
    "tests.zoo.m_leak_log": "leak",
    "tests.zoo.m_leak_boundary": "leak",
    # an OS error's file name in details (every OSError class takes the errno form)
    "tests.zoo.m_leak_os_error": "leak",
    # a live traceback formatted with its exception's line (probed at the boundary)
    "tests.zoo.m_leak_boundary_format_exception": "leak",
    # a live traceback formatted with its frames' locals (drawn at the boundary too)
    "tests.zoo.m_leak_boundary_locals": "leak",
    # Fragments of the auth token, each of MIN_FRAGMENT characters (the boundary).
    "tests.zoo.m_leak_prefix": "leak",
    "tests.zoo.m_leak_suffix": "leak",
    "tests.zoo.m_leak_slice": "leak",
    "tests.zoo.m_type_exc_object": "type",
    "tests.zoo.m_type_iso_time": "type",
    "tests.zoo.m_null_project": "null",
    "tests.zoo.m_null_host": "null",
    "tests.zoo.m_bounds_chars": "bounds",
    "tests.zoo.m_bounds_untruncated": "bounds",
    "tests.zoo.m_time_request_clock": "time",
    "tests.zoo.m_time_aware": "time",
    "tests.zoo.m_time_mirror": "time",
    # naive local time: seen because the test clock's zone is not UTC (LOCAL_OFFSET)
    "tests.zoo.m_time_local": "time",
    # the same from time.localtime(): freezegun's reads time.timezone, which the clock
    # sets to its zone (before, only the lost fraction of a second showed it)
    "tests.zoo.m_time_localtime": "time",
    "tests.zoo.m_integrity_result": "integrity",
    "tests.zoo.m_integrity_swap": "integrity",
    "tests.zoo.m_integrity_trusted_details": "integrity",
    "tests.zoo.m_integrity_falsy": "integrity",
    "tests.zoo.m_purity_scrub_args": "purity",
    "tests.zoo.m_purity_scrub_token": "purity",
    # the caller's live traceback cleared (traceback.clear_frames) by the boundary
    "tests.zoo.m_purity_clear_frames": "purity",
    "tests.zoo.m_crash_format_message": "crash",
    # Were known gaps until the strategies drew odd kwargs and notes more often.
    "tests.zoo.m_leak_notes": "leak",
    "tests.zoo.m_crash_kwargs": "crash",
    # The instance-fault sink (add_instance_fault_from_exc).
    "tests.zoo.m_leak_fault_str_fallback": "leak",  # message, read by the tenant
    "tests.zoo.m_leak_fault_details": "leak",  # details at code 500, read by admins
    # traceback frames in details at a 4xx code, read by the project's members
    "tests.zoo.m_leak_fault_frames_any_code": "leak",
    "tests.zoo.m_integrity_fault_code": "integrity",
    # an untrusted exception's own code attribute as the fault's code
    "tests.zoo.m_integrity_fault_code_attr": "integrity",
    "tests.zoo.m_crash_fault_kwargs": "crash",
}

#: The mutants whose planted defect is in the instance-fault sink.
SINK_MUTANTS: tuple[str, ...] = tuple(m for m in MUTANTS if "_fault_" in m)

#: Realistic mutants the default strategies catch too rarely within 100 examples;
#: tested as expected gaps (none today).
KNOWN_GAPS: dict[str, str] = {}
