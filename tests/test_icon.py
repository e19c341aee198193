"""The published icon is a small, well-formed PNG of exactly the art drawn in `mcp_types_gen/icon.py`."""

from __future__ import annotations

import base64
import struct
import zlib

from codex_mcp._generated import icons
from mcp_types_gen import icon


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC on {kind!r}"
        out.append((kind, body))
        at += 12 + length
    assert at == len(data)
    return out


def test_icon_is_a_small_png_data_uri() -> None:
    prefix = "data:image/png;base64,"
    assert icons.ICON_PNG_DATA_URI.startswith(prefix)
    data = base64.b64decode(icons.ICON_PNG_DATA_URI[len(prefix) :], validate=True)
    assert len(data) < 512 and len(icons.ICON_PNG_DATA_URI) < 1024
    assert data == icon.png()
    chunks = _chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"]
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (width, height, depth, colour, interlace) == (32, 32, 2, 3, 0)
    assert f"{width}x{height}" == icons.ICON_SIZE
    assert len(chunks[1][1]) == 3 * len(icon.PALETTE)


def test_icon_pixels_are_the_drawn_art() -> None:
    chunks = dict(_chunks(icon.png()))
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 32 * 2 // 8
    assert len(raw) == 32 * stride
    for y in range(32):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0  # no filter
        pixels = [(byte >> shift) & 3 for byte in row[1:] for shift in (6, 4, 2, 0)]
        expected = [icon.PALETTE.index(icon.ART[y // 2][x // 2]) for x in range(32)]
        assert pixels == expected, f"row {y}"


def test_each_answer_gets_its_own_icons_list() -> None:
    first, second = icons.icons(), icons.icons()
    assert first == second == [{"src": icons.ICON_PNG_DATA_URI, "mimeType": "image/png", "sizes": ["32x32"]}]
    first[0]["src"] = "changed"
    assert icons.icons()[0]["src"] == icons.ICON_PNG_DATA_URI
