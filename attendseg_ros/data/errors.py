"""The one error every dataset reader raises: it names the file and what is wrong with it."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file is missing, unreadable, malformed or does not match its partner."""
