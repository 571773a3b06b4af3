"""The one error type users see: the CLI prints its message on one line and exits with status 2."""


class BmbenchError(Exception):
    """Bad input or an unusable environment, described in one line."""
