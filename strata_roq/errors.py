"""The project's exception types.

Parsers raise only :class:`ParseError` on bad input, so callers can count and drop a
malformed packet with one ``except`` and never crash on it (the h11 model: one error type
carrying a reason).
"""


class StrataError(Exception):
    """Base of every error this package raises on purpose."""


class ParseError(StrataError, ValueError):
    """Input bytes that are not a valid packet/structure of the expected kind."""


class UsageError(StrataError):
    """Bad user input (URL, option, file): shown as one line, exit code 2."""
