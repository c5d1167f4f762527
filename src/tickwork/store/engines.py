"""Database URLs, and the engine of a URL: the dialect's own set-up (``sqlite.engine``,
``postgres.engine``) picked by the URL's backend."""

from __future__ import annotations

from sqlalchemy.engine import Engine, make_url

from tickwork.errors import ConfigError
from tickwork.store.postgres.engine import create_postgres_engine
from tickwork.store.sqlite.engine import create_sqlite_engine


def display_url(url: str) -> str:
    """``url`` fit for logs: the password masked, or a placeholder if it does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"


def normalize_url(url: str) -> str:
    """Accept ``postgres://``/``postgresql://`` and pick the psycopg 3 driver for them."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a useful text
        raise ConfigError(f"invalid database URL: {exc}", field="database_url") from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ConfigError(
        f"unsupported database {backend!r}: use sqlite:///path.db or postgresql://...",
        field="database_url",
    )


def create_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return create_sqlite_engine(url)
    require_postgres_driver()
    return create_postgres_engine(url)


def require_postgres_driver() -> None:
    """psycopg is the ``postgres`` extra (the base install runs on SQLite): say how to get it
    rather than fail on SQLAlchemy's import of a missing module."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ConfigError(
            "PostgreSQL needs its driver, psycopg: pip install 'tickwork[postgres]'",
            field="database_url",
        ) from None
