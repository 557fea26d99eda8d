"""The one exception type that user-facing commands turn into a one-sentence message."""


class WavecrossError(Exception):
    """A problem with the user's input or set-up, explained in one sentence.

    The command-line entry point prints the message (no traceback) and exits with status 2, so every message
    should name the file or option concerned and say what to do about it.
    """

    #: Set in the other processes of a ``torchrun`` job for an error that rank 0 prints: they exit with status 2
    #: without repeating it (:meth:`wavecross.distributed.Group.fail`).
    quiet: bool = False
