"""Decoding a provider's response body with the output of every step bounded.

An HTTP library decompresses each network chunk in one call, so a few KiB of gzip from a hostile or
broken provider could become gigabytes in memory before the SSE parser sees a byte.  We
ask for an uncompressed body (`Accept-Encoding: identity`), read the raw bytes, and if a
provider compresses anyway, inflate with zlib's `max_length` so that no step yields more
than `OUT_CHUNK` bytes: the parser's caps then apply before memory grows.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from codex_mcp.agent.model.types import ModelError

if TYPE_CHECKING:
    from codex_mcp.agent.model.transport import ProviderResponse

OUT_CHUNK = 64 * 1024
ACCEPT_ENCODING = "identity"

_AUTO_GZIP_OR_ZLIB = zlib.MAX_WBITS | 32


class BoundedDecoder:
    """Turns raw body chunks into decoded pieces of at most `OUT_CHUNK` bytes each."""

    def __init__(self, content_encoding: str | None) -> None:
        coding = (content_encoding or "").strip().lower()
        if coding in ("", "identity"):
            self._inflate: zlib._Decompress | None = None
        elif coding in ("gzip", "x-gzip", "deflate"):
            self._inflate = zlib.decompressobj(_AUTO_GZIP_OR_ZLIB)
        else:
            raise ModelError(
                f"the model provider answered with an unsupported content-encoding `{coding[:64]}`",
                "response_stream_failed",
            )

    def decode(self, data: bytes) -> Iterator[bytes]:
        inflate = self._inflate
        if inflate is None:
            for start in range(0, len(data), OUT_CHUNK):
                yield data[start : start + OUT_CHUNK] if len(data) > OUT_CHUNK else data
            return
        pending = data
        while True:
            try:
                out = inflate.decompress(pending, OUT_CHUNK)
            except zlib.error as exc:
                raise ModelError(
                    f"the model provider sent a corrupt compressed body: {exc}", "response_stream_failed"
                ) from None
            pending = inflate.unconsumed_tail
            if out:
                yield out
            elif not pending:
                return


async def bounded_chunks(raw: AsyncIterator[bytes], content_encoding: str | None) -> AsyncIterator[bytes]:
    """The decoded body of `raw`, in pieces of at most `OUT_CHUNK` bytes."""
    decoder = BoundedDecoder(content_encoding)
    async for data in raw:
        for piece in decoder.decode(data):
            yield piece


async def read_body(resp: ProviderResponse, limit: int) -> bytes:
    """At most `limit` decoded bytes of a (streamed) response body; the rest is left unread."""
    parts: list[bytes] = []
    size = 0
    async for piece in bounded_chunks(resp.aiter_raw(), resp.headers.get("content-encoding")):
        parts.append(piece)
        size += len(piece)
        if size >= limit:
            break
    return b"".join(parts)[:limit]
