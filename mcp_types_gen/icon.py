"""The server's icon (MCP 2025-11-25 `icons` on tools and `serverInfo`), drawn here as pixel art.

Why drawn in code: the icon is ours and reviewable as text, and the published bytes follow from
this file alone. The PNG is written with uncompressed deflate blocks so the same art gives the same
bytes with any zlib build (`--check` compares bytes); at 32x32 with a 2-bit palette that is still
under 400 bytes, so the data: URI costs nothing worth caching.
"""

from __future__ import annotations

import base64
import struct
import zlib

from mcp_types_gen.templates import GENERATED_MARK, REGENERATE

# A terminal prompt `>_` on a dark rounded square; each character is one palette entry.
ART = (
    ".##############.",
    "################",
    "################",
    "################",
    "##oo############",
    "###oo###########",
    "####oo##########",
    "#####oo#########",
    "####oo##########",
    "###oo###########",
    "##oo####oooooo##",
    "################",
    "################",
    "################",
    "################",
    ".##############.",
)
PALETTE = (".", "#", "o")
"""Order of the PNG palette: transparent, background, foreground."""
COLOURS = ((0, 0, 0), (0x1F, 0x23, 0x28), (0xF0, 0xF3, 0xF6))
SCALE = 2
BIT_DEPTH = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _stored_zlib(data: bytes) -> bytes:
    """A zlib stream holding `data` in stored (uncompressed) deflate blocks."""
    out = bytearray(b"\x78\x01")
    for start in range(0, max(len(data), 1), 0xFFFF):
        block = data[start : start + 0xFFFF]
        final = 1 if start + 0xFFFF >= len(data) else 0
        out += struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF) + block
    return bytes(out + struct.pack(">I", zlib.adler32(data)))


def png(art: tuple[str, ...] = ART, scale: int = SCALE) -> bytes:
    """The palette PNG of `art`, every pixel repeated `scale` times in both directions."""
    width, height = len(art[0]) * scale, len(art) * scale
    per_byte = 8 // BIT_DEPTH
    raw = bytearray()
    for row in art:
        if len(row) * scale != width:
            raise ValueError("every row of the icon must have the same width")
        indices = [PALETTE.index(ch) for ch in row for _ in range(scale)]
        packed = bytearray()
        for i in range(0, width, per_byte):
            byte = 0
            for j, index in enumerate(indices[i : i + per_byte]):
                byte |= index << (8 - BIT_DEPTH * (j + 1))
            packed.append(byte)
        for _ in range(scale):
            raw += b"\x00" + packed  # filter type 0 (none)
    header = struct.pack(">IIBBBBB", width, height, BIT_DEPTH, 3, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", b"".join(bytes(c) for c in COLOURS)),
            _chunk(b"tRNS", b"\x00"),  # palette entry 0 is transparent, the others opaque
            _chunk(b"IDAT", _stored_zlib(bytes(raw))),
            _chunk(b"IEND", b""),
        )
    )


def render() -> str:
    """The text of `codex_mcp/_generated/icons.py`."""
    size = f"{len(ART[0]) * SCALE}x{len(ART) * SCALE}"
    uri = "data:image/png;base64," + base64.b64encode(png()).decode("ascii")
    return "\n".join(
        [
            GENERATED_MARK,
            "# Source: mcp_types_gen/icon.py (pixel art drawn for this project).",
            REGENERATE,
            '"""The icon shown by MCP 2025-11-25 clients (tools, `serverInfo`): a small PNG data: URI."""',
            "",
            "from typing import Final",
            "",
            f'ICON_PNG_DATA_URI: Final = "{uri}"',
            f'ICON_SIZE: Final = "{size}"',
            "",
            "",
            "def icons() -> list[dict[str, object]]:",
            '    """A fresh `icons` array (an `Icon` list) for one answer."""',
            '    return [{"src": ICON_PNG_DATA_URI, "mimeType": "image/png", "sizes": [ICON_SIZE]}]',
            "",
        ]
    )
