"""End-to-end benchmarks of codex-mcp, optionally side by side with a reference server.

Run `python -m bench --help` (or `bench/run`) from the repository root.  Modules:
`mock_model` (the benchmark's answers from the mock model the tests use,
`tests/support/scripted_model.py`), `harness` (spawning a server and a raw JSON-RPC
client), `scenarios` (what is measured), `report` (table and JSON).  The standalone scripts
run as modules from the repository root: `python -m bench.bench_x`.
"""
