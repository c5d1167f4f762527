"""The one exception root of tickwork and the errors a user can cause."""

from __future__ import annotations


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


class StoreError(TickworkError):
    """The store could not be reached or refused an operation."""
