"""Exception hierarchy of the apply_patch engine.

Every failure the engine reports is an :class:`ApplyPatchError`; callers can rely on
catching that one class.  ``str(error)`` is the text meant for the model:

* :class:`ParseError` -- the patch text is malformed.  Displayed as
  ``invalid patch: {message}`` or ``invalid hunk at line {n}, {message}``.
* :class:`VerificationError` -- the patch is well formed but does not fit the files on
  disk (a context line is missing, a file to update cannot be read, ...).
* :class:`WriteError` -- the filesystem refused a write, a delete or a directory
  creation while applying.  Nothing has been changed when it is raised.
* :class:`NoChangesError` -- the patch contains no file operations.
* :class:`ImplicitInvocationError` -- a raw patch was given where a command was expected
  (see :mod:`.shell_detect`).
* :class:`HeredocError` -- a shell command invokes apply_patch with a broken heredoc.
"""

from __future__ import annotations

import errno as _errno


class ApplyPatchError(Exception):
    """Base class of every error raised by the apply_patch engine."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ParseError(ApplyPatchError):
    """The patch text does not follow the patch language.

    ``line_number`` is the 1-based line of the (trimmed) patch the problem was found on,
    or ``None`` for problems with the patch as a whole (missing markers).
    """

    def __init__(self, message: str, line_number: int | None = None) -> None:
        super().__init__(message)
        self.line_number = line_number

    def __str__(self) -> str:
        if self.line_number is None:
            return f"invalid patch: {self.message}"
        return f"invalid hunk at line {self.line_number}, {self.message}"


class VerificationError(ApplyPatchError):
    """The patch cannot be applied to the current contents of the files."""


class WriteError(ApplyPatchError):
    """A filesystem operation failed while applying; all changes were rolled back."""


class NoChangesError(ApplyPatchError):
    """The patch contains no file operations."""

    def __init__(self) -> None:
        super().__init__("No files were modified.")


IMPLICIT_INVOCATION_MESSAGE = (
    'patch detected without explicit call to apply_patch. Rerun as ["apply_patch", "<patch>"]'
)


class ImplicitInvocationError(ApplyPatchError):
    """A patch was passed as a bare command instead of as an argument of apply_patch."""

    def __init__(self) -> None:
        super().__init__(IMPLICIT_INVOCATION_MESSAGE)


class HeredocError(ApplyPatchError):
    """A shell command clearly invokes apply_patch but its heredoc is malformed."""


def describe_os_error(exc: BaseException) -> str:
    """Render an OS-level failure like ``No such file or directory (os error 2)``."""
    if isinstance(exc, OSError) and exc.errno is not None:
        text = exc.strerror or _errno.errorcode.get(exc.errno, "error")
        return f"{text} (os error {exc.errno})"
    return str(exc) or type(exc).__name__
