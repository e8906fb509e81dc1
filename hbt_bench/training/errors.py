"""Errors of the training recipe; the CLI prints them as one line (they are :class:`HbtBenchError`\\ s)."""

from __future__ import annotations

from hbt_bench.errors import HbtBenchError


class TrainingConfigError(HbtBenchError):
    """A training config file or ``--set`` override is invalid: unknown key, wrong type, bad value."""


class TrainingDataError(HbtBenchError):
    """A training source is unreadable or a row breaks its format (the message names file, line, field)."""
