"""The CLI's contract-level behaviour: version, help, usage errors exit 1 without traceback."""

from __future__ import annotations

import subprocess
import sys

from calcscan import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calcscan", *args], capture_output=True, text=True, timeout=120
    )


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"calcscan {__version__}"


def test_help_lists_commands() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert "info" in r.stdout


def test_unknown_command_is_usage_error() -> None:
    r = run("no-such-command")
    assert r.returncode == 1
    assert "error: No such command" in r.stderr
    assert "Traceback" not in r.stderr
