"""The provider's body decoded in bounded steps, whatever its content-encoding."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator

import pytest

from codex_mcp.agent.model.content_decoding import OUT_CHUNK, BoundedDecoder, bounded_chunks
from codex_mcp.agent.model.types import ModelError


def inflate_all(decoder: BoundedDecoder, data: bytes) -> list[bytes]:
    return list(decoder.decode(data))


@pytest.mark.parametrize("encoding", [None, "", "identity", "IDENTITY "])
def test_identity_passes_bytes_through_in_bounded_pieces(encoding: str | None) -> None:
    pieces = inflate_all(BoundedDecoder(encoding), b"z" * (3 * OUT_CHUNK + 5))
    assert b"".join(pieces) == b"z" * (3 * OUT_CHUNK + 5)
    assert max(map(len, pieces)) <= OUT_CHUNK


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
    ],
)
def test_compressed_bodies_inflate_in_bounded_steps(encoding: str, compress: object) -> None:
    plain = b"data: " + b"A" * (10 * 1024 * 1024)
    packed = compress(plain)  # type: ignore[operator]
    assert len(packed) < 64 * 1024
    decoder = BoundedDecoder(encoding)
    total = 0
    biggest = 0
    for cut in range(0, len(packed), 1000):  # chunked as a network would deliver it
        for piece in decoder.decode(packed[cut : cut + 1000]):
            total += len(piece)
            biggest = max(biggest, len(piece))
    assert total == len(plain)
    assert biggest <= OUT_CHUNK


def test_a_bomb_yields_one_bounded_piece_at_a_time() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(packer.compress(b"\0" * (1 << 20)) for _ in range(256)) + packer.flush()
    pieces = BoundedDecoder("gzip").decode(bomb)
    first = next(pieces)  # nothing is inflated beyond what the consumer takes
    assert len(first) <= OUT_CHUNK


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
def test_other_encodings_are_refused(encoding: str) -> None:
    with pytest.raises(ModelError, match="unsupported content-encoding"):
        BoundedDecoder(encoding)


def test_corrupt_compressed_body_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="corrupt compressed body"):
        inflate_all(BoundedDecoder("gzip"), b"\x1f\x8b\x08\x00garbage-garbage")


@pytest.mark.anyio
async def test_bounded_chunks_over_an_async_body() -> None:
    async def raw() -> AsyncIterator[bytes]:
        yield gzip.compress(b"x" * (5 * OUT_CHUNK))

    out = [piece async for piece in bounded_chunks(raw(), "gzip")]
    assert b"".join(out) == b"x" * (5 * OUT_CHUNK) and len(out) >= 5
