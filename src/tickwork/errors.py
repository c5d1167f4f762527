"""The one exception root of tickwork and the errors a user can cause."""

from __future__ import annotations

from datetime import timedelta


class TickworkError(Exception):
    """Root of every error tickwork raises on purpose."""


class ConfigError(TickworkError):
    """A definition or setting is invalid; names the job, the field and the value.

    Adapters print ``str(error)`` as a single line (CLI: exit status 2; API: a 4xx JSON error).
    """

    def __init__(self, message: str, *, job: str | None = None, field: str | None = None) -> None:
        self.job = job
        self.field = field
        self.reason = message
        parts = []
        if job is not None:
            parts.append(f"job {job!r}")
        if field is not None:
            parts.append(field)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def for_job(self, job: str) -> ConfigError:
        """The same error, attributed to ``job`` (used when a field parser does not know it)."""
        if self.job is not None:
            return self
        return ConfigError(self.reason, job=job, field=self.field)


class NotFoundError(TickworkError):
    """A task, job or run that was asked for does not exist."""


class InvalidStateError(TickworkError):
    """An action does not fit the current state (e.g. cancelling a job that already finished)."""


class ConflictError(TickworkError):
    """Something of that name already exists, or a change conflicts with how it was defined."""


class AuthError(TickworkError):
    """No valid credentials: a missing, unknown, expired or revoked token, or a wrong secret."""


class ForbiddenError(TickworkError):
    """Valid credentials that do not allow this action."""


class StoreError(TickworkError):
    """The store could not be reached or refused an operation."""


class SchemaError(StoreError):
    """The database is missing, has no tickwork tables or an older schema: someone has to
    create or upgrade it (``tickwork db upgrade``); retrying cannot help.

    The CLI reports it with exit status 2, like other input that names the wrong thing.
    """


class Retry(TickworkError):
    """Raised by a task: this attempt failed, try again (while attempts remain).

    Retried whatever the cause, waiting ``after`` (seconds or a timedelta; capped at one hour)
    instead of the backoff delay when given. The run is recorded with error type ``Retry``.
    """

    def __init__(self, reason: str = "", *, after: float | timedelta | None = None) -> None:
        self.reason = reason
        if isinstance(after, timedelta):
            after = after.total_seconds()
        if after is not None and not after >= 0:  # also rejects NaN
            raise ValueError(f"Retry(after=...) must be >= 0 seconds, got {after!r}")
        self.after: float | None = None if after is None else float(after)
        super().__init__(reason)


class Fail(TickworkError):
    """Raised by a task: this attempt failed and retrying cannot help; the job fails now.

    Recorded with error type ``Fail`` and error class ``validation``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
