"""End-to-end benchmarks of codex-mcp, optionally side by side with a reference server.

Run `python -m bench --help` (or `bench/run`) from the repository root.  Modules:
`mock_model` (the loopback Responses mock), `harness` (spawning a server and a raw
JSON-RPC client), `scenarios` (what is measured), `report` (table and JSON).  The
standalone scripts `bench_*.py` keep working as `python bench/bench_x.py`.
"""
