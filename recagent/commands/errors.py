"""The error every ``recagent`` command raises for its user.

It lives below both the CLI (``recagent/cli.py``, which prints it) and the commands (which
raise it), so neither imports the other to reach it.
"""

from __future__ import annotations


class CliError(Exception):
    """A message for the user (printed without a traceback, exit code 2)."""
