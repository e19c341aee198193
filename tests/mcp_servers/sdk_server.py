"""An MCP server on the `mcp` SDK (2.x low-level API), over stdio or Streamable HTTP.

    python sdk_server.py --kind plain|sandbox|meta|elicit|image|huge|slow
                         [--record FILE] [--http-fd FD [--json]]

Every kind offers `echo` (text), `add` (structured content) and `fail` (isError); the kind
adds one behaviour.  `--record FILE` appends one JSON line per thing worth checking (the
sandbox updates received, each call's `_meta`, each elicitation answer, the environment).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

import anyio
import mcp_types as t
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from pydantic import ConfigDict

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

args = argparse.Namespace()


def record(kind: str, payload: Any) -> None:
    if args.record:
        with open(args.record, "a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, "payload": payload}, default=str) + "\n")


def tools() -> list[t.Tool]:
    obj: dict[str, Any] = {"type": "object"}
    out = [
        t.Tool(
            name="echo",
            description="Echo the text back.",
            input_schema={
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        ),
        t.Tool(
            name="add",
            description="Add two numbers (structured result).",
            input_schema={
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "integer"}},
            },
        ),
        t.Tool(name="fail", description="Always fails.", input_schema=obj),
    ]
    extra = {
        "elicit": "Ask the user a question.",
        "image": "Return an image.",
        "huge": "Return a very large text.",
        "slow": "Never finishes.",
        "env": "Report the environment.",
    }
    for name, description in extra.items():
        if args.kind == name or name == "env":
            out.append(t.Tool(name=name, description=description, input_schema=obj))
    return out


async def on_list_tools(ctx: Any, params: t.PaginatedRequestParams | None) -> t.ListToolsResult:
    return t.ListToolsResult(tools=tools())


async def on_call_tool(ctx: Any, params: t.CallToolRequestParams) -> t.CallToolResult:
    arguments = params.arguments or {}
    meta = params.meta
    record("call", {"name": params.name, "arguments": arguments, "meta": meta})
    if params.name == "echo":
        return t.CallToolResult(content=[t.TextContent(type="text", text=f"echo: {arguments.get('text')}")])
    if params.name == "add":
        total = arguments.get("a", 0) + arguments.get("b", 0)
        return t.CallToolResult(
            content=[t.TextContent(type="text", text=str(total))], structured_content={"sum": total}
        )
    if params.name == "fail":
        return t.CallToolResult(content=[t.TextContent(type="text", text="it broke")], is_error=True)
    if params.name == "image":
        return t.CallToolResult(
            content=[
                t.TextContent(type="text", text="here is the picture"),
                t.ImageContent(type="image", data=base64.b64encode(PNG).decode(), mime_type="image/png"),
            ]
        )
    if params.name == "huge":
        line = "x" * 99 + "\n"
        return t.CallToolResult(content=[t.TextContent(type="text", text=line * 30_000)])
    if params.name == "slow":
        await anyio.sleep_forever()
    if params.name == "env":
        return t.CallToolResult(content=[t.TextContent(type="text", text=json.dumps(dict(os.environ)))])
    if params.name == "elicit":
        answer = await ctx.session.elicit_form(
            "What is your name?",
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            related_request_id=ctx.request_id,
        )
        dumped = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
        record("elicit_answer", dumped)
        return t.CallToolResult(
            content=[t.TextContent(type="text", text=f"elicitation: {json.dumps(dumped)}")]
        )
    return t.CallToolResult(
        content=[t.TextContent(type="text", text=f"no such tool {params.name}")], is_error=True
    )


class SandboxParams(t.RequestParams):
    model_config = ConfigDict(extra="allow")


async def on_sandbox_update(ctx: Any, params: SandboxParams) -> dict[str, Any]:
    record("sandbox_update", params.model_dump(by_alias=True, exclude_none=False))
    return {}


def build() -> tuple[Server[Any], dict[str, dict[str, Any]]]:
    server: Server[Any] = Server(
        "test-" + args.kind, version="0.0.1", on_list_tools=on_list_tools, on_call_tool=on_call_tool
    )
    experimental: dict[str, dict[str, Any]] = {}
    if args.kind == "sandbox":
        experimental["codex/sandbox-state"] = {"version": "1.0.0"}
        server.add_request_handler("codex/sandbox-state/update", SandboxParams, on_sandbox_update)
    if args.kind == "meta":
        experimental["codex/sandbox-state-meta"] = {"version": "1.0.0"}
    return server, experimental


async def main() -> None:
    server, experimental = build()
    options = server.create_initialization_options(experimental_capabilities=experimental)
    record("started", {"pid": os.getpid()})
    if args.http_fd is not None:
        # Serve on a socket the test already bound and listens on: connections made before
        # uvicorn is up wait in the backlog, so the test never polls for readiness.
        import socket

        import uvicorn

        app = server.streamable_http_app(
            streamable_http_path="/mcp", host="127.0.0.1", json_response=args.json
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve(sockets=[socket.socket(fileno=args.http_fd)])
        return
    async with stdio_server() as (read, write):
        await server.run(read, write, options)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", default="plain")
    parser.add_argument("--record", default=None)
    parser.add_argument("--http-fd", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.parse_args(namespace=args)
    print(f"test server {args.kind} starting", file=sys.stderr, flush=True)
    anyio.run(main)
