"""The server's network proxy for sandboxed commands: network access host by host, under the
person's approval, without ever giving a command a socket to the outside.

* `rules`: the settings (`[network_proxy]`), host names, patterns and address classes;
* `resolver`: fixed answers, configured DNS servers, or the system's resolver;
* `wire`: HTTP CONNECT, plain HTTP and SOCKS5 requests, and the proxy's answers;
* `conn`: non-blocking sockets, connecting out, the relay;
* `model`: questions, answers, connection reports, traffic, the session's hooks;
* `service`: `NetworkProxy`, one per session: channels, decisions, questions, reports.

The sandbox side (a network namespace with only loopback, the bridge listening there, the
seccomp filter) is `netbridge.py` and the backends; `docs/security.md` has the design.
"""

from __future__ import annotations

from codex_mcp.sandbox.netproxy.rules import PROXY_MODES as PROXY_MODES
from codex_mcp.sandbox.netproxy.rules import ProxyMode as ProxyMode
from codex_mcp.sandbox.netproxy.rules import ProxySettings as ProxySettings
from codex_mcp.sandbox.netproxy.rules import check_settings as check_settings
