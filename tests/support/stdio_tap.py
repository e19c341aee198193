"""A recording pipe between a stdio MCP client and the server: what the client really read.

    python -m tests.support.stdio_tap RECORD -- SERVER-ARGV...

The client starts this program as its server.  It starts the real server, passes the
client's bytes to it unchanged, and passes the server's output back chunk by chunk, as it
reads it, appending one JSON line per chunk to RECORD: `{"at": <monotonic>, "data": <base64>}`.
A test then knows the order of every message and which messages arrived together.  The
server's exit status becomes ours; the server is reaped when either side closes.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time


def _pump_input(source: int, sink: int) -> None:
    try:
        while chunk := os.read(source, 65536):
            os.write(sink, chunk)
    except OSError:
        pass
    finally:
        os.close(sink)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: stdio_tap RECORD -- SERVER-ARGV...", file=sys.stderr)
        return 2
    record_path, server = argv[0], argv[2:]
    child = subprocess.Popen(server, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    feeder = threading.Thread(
        target=_pump_input, args=(sys.stdin.fileno(), os.dup(child.stdin.fileno())), daemon=True
    )
    child.stdin.close()
    feeder.start()
    out = sys.stdout.fileno()
    with open(record_path, "a", encoding="utf-8") as record:
        try:
            while chunk := os.read(child.stdout.fileno(), 1 << 20):
                data = base64.b64encode(chunk).decode("ascii")
                record.write(json.dumps({"at": time.monotonic(), "data": data}) + "\n")
                record.flush()
                os.write(out, chunk)
        except OSError:
            pass
    child.stdout.close()
    try:
        return child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


def read_record(path: str | os.PathLike[str]) -> list[tuple[float, list[dict[str, object]]]]:
    """The recorded chunks: (arrival time, the JSON-RPC messages in the chunk).  A message
    split over two chunks counts for the chunk that completed it."""
    chunks: list[tuple[float, list[dict[str, object]]]] = []
    rest = b""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            rest += base64.b64decode(entry["data"])
            *complete, rest = rest.split(b"\n")
            chunks.append((float(entry["at"]), [json.loads(text) for text in complete if text.strip()]))
    return chunks


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
