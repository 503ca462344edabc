"""The one exception type for errors a user can cause (paths, files, config values, names)."""


class HandgradError(Exception):
    """A problem with the user's input; the message names the file, key or value at fault.

    The CLI prints the message without a traceback and exits with status 2.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, carrying one line on what was kept and where (the CLI prints it, exit status 130)."""

    def __init__(self, kept: str) -> None:
        super().__init__(kept)
        self.kept = kept
