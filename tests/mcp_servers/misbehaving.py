"""MCP "servers" that misbehave, without any SDK (so they start in milliseconds).

python misbehaving.py crash        # writes to stderr and exits 3 before reading anything
python misbehaving.py closes-stdin # answers initialize having closed its stdin first, writes
                                   # to stderr, lingers 0.2 s and exits 3: the next request
                                   # the client sends finds a broken pipe
python misbehaving.py silent       # reads stdin forever and never answers
python misbehaving.py no-tools     # answers initialize, never answers tools/list
python misbehaving.py odd-tools    # a raw server whose tools have odd names and schemas,
                                   # listed over two pages; `echo` answers
python misbehaving.py typed        # tools with an outputSchema: `sum_ok` keeps it, `sum_bad`
                                   # answers structuredContent that breaks it
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

LONG = "a_really_long_tool_name_that_goes_on_and_on_and_on_beyond_the_limit"
ODD_TOOLS: list[list[dict[str, Any]]] = [
    [
        {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {}}}},
        {"name": "no schema type", "inputSchema": {"properties": {"n": {"minimum": 1}}}},
        {"name": "array_schema", "inputSchema": {"type": "array"}},
        {"name": "not_a_dict", "inputSchema": 5},
    ],
    [
        {"name": "no.schema.type", "inputSchema": {"type": "object"}},  # same name once sanitised
        {"name": LONG + "_one", "inputSchema": {"type": "object"}},
        {"name": LONG + "_two", "inputSchema": {"type": "object"}},
        {
            "name": "refs",
            "inputSchema": {
                "type": "object",
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "properties": {"p": {"$ref": "#/$defs/point"}, "flag": True, "tags": {"type": "array"}},
                "$defs": {"point": {"properties": {"x": {"type": "integer"}}}},
            },
        },
    ],
]

SUM_SCHEMA = {"type": "object", "properties": {"sum": {"type": "number"}}, "required": ["sum"]}
TYPED_TOOLS = [
    {"name": name, "inputSchema": {"type": "object"}, "outputSchema": SUM_SCHEMA}
    for name in ("sum_ok", "sum_bad")
]


def reply(message_id: Any, result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": message_id, "result": result}) + "\n")
    sys.stdout.flush()


def main() -> int:
    mode = sys.argv[1]
    if mode == "crash":
        print("fatal: this server cannot start", file=sys.stderr, flush=True)
        return 3
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
    if mode == "closes-stdin":
        initialize = json.loads(sys.stdin.readline())
        os.close(0)
        reply(initialize["id"], {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                 "serverInfo": {"name": mode, "version": "0"}})  # fmt: skip
        print("fatal: this server gave up after initialize", file=sys.stderr, flush=True)
        time.sleep(0.2)  # alive a moment with no reader on the pipe: a write gets EPIPE
        return 3
    for line in sys.stdin:
        if mode == "silent":
            continue
        message = json.loads(line)
        method = message.get("method")
        if method == "initialize":
            reply(
                message["id"],
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": mode, "version": "0"},
                },
            )
        elif method == "tools/list" and mode == "odd-tools":
            cursor = (message.get("params") or {}).get("cursor")
            page = 1 if cursor == "page2" else 0
            result: dict[str, Any] = {"tools": ODD_TOOLS[page]}
            if page == 0:
                result["nextCursor"] = "page2"
            reply(message["id"], result)
        elif method == "tools/list" and mode == "typed":
            reply(message["id"], {"tools": TYPED_TOOLS})
        elif method == "tools/call" and mode == "typed":
            good = message["params"].get("name") == "sum_ok"
            structured = {"sum": 5} if good else {"sum": "five"}
            text = "5" if good else "five, as text"
            reply(
                message["id"], {"content": [{"type": "text", "text": text}], "structuredContent": structured}
            )
        elif method == "tools/call" and mode == "odd-tools":
            text = json.dumps(message["params"].get("arguments"))
            reply(message["id"], {"content": [{"type": "text", "text": text}]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
