"""What one client told us about itself: the negotiated protocol revision, its capabilities,
and the sandbox state it pushed.

One `ConnectionState` per connection (stdio) or session (HTTP): the handshake fills it in,
the server keeps the pushed sandbox state current, and the MCP tools read it (can the client
show a form? which form shape?).  A plain value at the bottom of the package, so every layer
may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codex_mcp.sandbox.state import PushedSandboxState

SUPPORTED_PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""Oldest first. A client asking for one of these gets it; any other request gets the latest."""
LATEST_PROTOCOL_VERSION = SUPPORTED_PROTOCOL_VERSIONS[-1]
REVISION_2025_11_25 = "2025-11-25"
"""From here on: `icons`, elicitation `mode` and defaults, titled enum choices, split `elicitation`
capability (`form` / `url`)."""


@dataclass
class ConnectionState:
    """What the client told us: negotiated version, capabilities, pushed sandbox state."""

    version: str = "0.0.0"
    initialized: bool = False
    protocol_version: str = LATEST_PROTOCOL_VERSION
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    sandbox_state: PushedSandboxState | None = None

    def speaks(self, revision: str) -> bool:
        """Whether the negotiated version is `revision` or later (revisions are ISO dates, so
        they order as strings)."""
        return self.protocol_version >= revision

    @property
    def supports_elicitation(self) -> bool:
        """Whether the client can show our approval forms (form-mode elicitation).

        From 2025-11-25 the capability names its modes; an empty object still means forms only,
        and a client that declares only `url` cannot show a form, so it is never sent one.
        """
        caps = self.client_capabilities.get("elicitation")
        if not isinstance(caps, dict):
            return False
        if caps and self.speaks(REVISION_2025_11_25):
            return isinstance(caps.get("form"), dict)
        return True
