"""Exceptions raised by hbt-bench.

Every error names what is wrong and where (file, language, field, argument), so a user can fix the
input without reading our code. They all derive from :class:`HbtBenchError`.
"""

from __future__ import annotations


class HbtBenchError(Exception):
    """Base class of every error hbt-bench raises on purpose."""


class DataSourceError(HbtBenchError):
    """A data file is missing, cannot be downloaded, or does not match its pinned checksum."""


class LareqaFormatError(HbtBenchError):
    """A LAReQA JSON file breaks the format (missing field, bad sentence breaks, answer in no sentence...)."""


class EncoderOutputError(HbtBenchError):
    """An encoder returned something unusable: wrong number of rows, wrong shape, NaN or inf."""


class ModelSpecError(HbtBenchError):
    """A model specification (``--model``) cannot be resolved to an encoder."""
