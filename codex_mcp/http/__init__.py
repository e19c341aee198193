"""MCP Streamable HTTP (protocol 2025-06-18) for `codex-mcp-server --http HOST:PORT`.

Only imported when `--http` is given, so the stdio start path stays as lean as before.
The pieces, bottom up:

* `limits`: what one network peer may cost (connections, head and body bytes, time,
  sessions) and their defaults;
* `peers`: who is on the other end (the address a connection cap counts; the client
  identity a session quota counts: address plus, for local clients, the socket's owner);
* `connections`: the accept loop that survives running out of descriptors, and the
  table of open connections that closes idle ones to make room;
* `wire`: a small HTTP/1.1 server connection on an anyio byte stream, built on `h11`
  (keep-alive, chunked SSE bodies, heads read before bodies, bounded heads and bodies,
  read and write timeouts);
* `security`: the listen address, and the checks every request head passes first (Host
  and Origin against DNS rebinding, the optional bearer token);
* `routing`: where each message the server writes goes (the POST that carried its request,
  or the session's GET stream);
* `session`: one MCP session = one `McpServer` + `Outgoing` with a routing sink, its idle
  timeout, and the registry of sessions with its per-client quotas;
* `endpoint`: the `/mcp` endpoint (POST, GET, DELETE) on top of those;
* `server`: the listener, signal handling and clean shutdown.
"""
