"""Exceptions with the exit codes of the command-line contract (CONTRACTS.md).

Library code raises these with a one-line message that names the problem and the fix; the CLI
turns them into ``error: <message>`` on stderr and the exit code, never a traceback.
"""

from __future__ import annotations

__all__ = ["CalcscanError", "InputError", "UsageError"]


class CalcscanError(Exception):
    """Base class of calcscan's expected errors.

    Attributes
    ----------
    exit_code : int
        Process exit code the CLI uses for this error.
    """

    exit_code: int = 1


class UsageError(CalcscanError):
    """Bad options, configuration or arguments (exit code 1)."""

    exit_code = 1


class InputError(CalcscanError):
    """Unusable input data, e.g. not a CT, one slice, corrupt files (exit code 2)."""

    exit_code = 2
