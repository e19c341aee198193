"""Local images as data URLs, the form the model APIs accept."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path


def image_data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
