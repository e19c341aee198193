"""`python -m codex_mcp` runs the server, exactly like `codex-mcp-server`."""

from codex_mcp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
