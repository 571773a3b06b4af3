"""The error types users see: the CLI prints their message on one line and exits with status 2
(BmbenchError) or 128 + the signal (Interrupted)."""


class BmbenchError(Exception):
    """Bad input or an unusable environment, described in one line."""


class Interrupted(Exception):
    """SIGINT or SIGTERM during a run: the completed cases were saved, marked incomplete (the
    message says where)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
