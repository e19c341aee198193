"""Local images as data URLs, the form the model APIs accept, read as untrusted files.

An image path comes from the model (`view_image`) or from a client's input, and the bytes
go to the model provider.  So the file is read through `bounded_read` (regular files only,
no `/proc`, `/sys` or `/dev`, at most `MAX_IMAGE_BYTES`, without blocking on a FIFO), and it
must be an image by its content: the first bytes must be the signature of a format the
providers accept.  Neither the name nor the extension decides; a text file named `x.png`,
an HTML page or `/proc/self/environ` is refused before anything is encoded.
"""

from __future__ import annotations

import base64
import errno
import os
from collections.abc import Callable

from codex_mcp.agent.limits import MAX_IMAGE_BYTES
from codex_mcp.bounded_read import aread_regular_file, read_regular_file

ACCEPTED_FORMATS = "PNG, JPEG, GIF or WebP"


class NotAnImageError(OSError):
    """The file's content is not an image in a format the model accepts.  An `OSError`, like
    every other reason a file cannot be attached, so callers handle one exception type."""


def sniff_image_mime(data: bytes) -> str | None:
    """The MIME type of an image by its signature, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def data_url_of(data: bytes, path: str | os.PathLike[str]) -> str:
    """`data:<mime>;base64,...` for image bytes; `NotAnImageError` for anything else."""
    mime = sniff_image_mime(data)
    if mime is None:
        raise NotAnImageError(
            errno.EINVAL,
            f"{os.fspath(path)} is not an image: its content is not {ACCEPTED_FORMATS} ({len(data)} bytes)",
        )
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def image_data_url(path: str | os.PathLike[str], limit: int = MAX_IMAGE_BYTES) -> str:
    """Read an image file (bounded, regular files only) as a data URL.

    Raises `OSError` (`UnreadableFileError` for pseudo-files, FIFOs, devices and files over
    `limit`) or `NotAnImageError`.
    """
    return data_url_of(read_regular_file(path, limit=limit), path)


async def aimage_data_url(
    path: str | os.PathLike[str],
    limit: int = MAX_IMAGE_BYTES,
    allow_path: Callable[[str], bool] | None = None,
) -> tuple[str, int]:
    """`image_data_url` with the read in a worker thread (a slow disk must not stall the
    loop); also returns the image's size in bytes.  `allow_path` judges the real path of
    the file opened (see `bounded_read`)."""
    data = await aread_regular_file(path, limit=limit, allow_path=allow_path)
    return data_url_of(data, path), len(data)
