"""The one exception type for errors a user can cause (paths, files, config values, names)."""


class HandgradError(Exception):
    """A problem with the user's input; the message names the file, key or value at fault.

    The CLI prints the message without a traceback and exits with status 2.
    """
