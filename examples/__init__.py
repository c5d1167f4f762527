"""Example tasks for ``tickwork run --config examples/tickwork.toml``, run from the repo root."""
