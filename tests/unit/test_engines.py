"""Store URLs: the driver picked for PostgreSQL, and passwords kept out of logs."""

from __future__ import annotations

import pytest

from tickwork.errors import ConfigError
from tickwork.store.engines import display_url, normalize_url


def test_display_url_masks_the_password() -> None:
    shown = display_url("postgresql://app:s3cret@db.example:5432/jobs")
    assert "s3cret" not in shown and "app" in shown and "db.example" in shown
    assert display_url("::not a url::") == "<invalid URL>"


def test_normalize_url_picks_psycopg_and_rejects_other_databases() -> None:
    assert normalize_url("postgres://u@h/d").startswith("postgresql+psycopg://")
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        normalize_url("mysql://u@h/d")
