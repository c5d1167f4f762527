"""The "why did it (not) run?" panel of a job's page (``templates/job_explain.html``): the
answer of ``Service.explain_job`` around the time asked (``?explain_at=``, default now) with its
window (``?window=``, default 1h each side). A time or window that is not valid is said in the
panel; the rest of the page is drawn as usual."""

from __future__ import annotations

from dataclasses import dataclass

from tickwork.domain.durations import parse_duration
from tickwork.domain.explain import Explanation
from tickwork.errors import ConfigError
from tickwork.service.facade import Service
from tickwork.service.stats import parse_moment


@dataclass(frozen=True)
class ExplainPanel:
    at: str  # as typed (empty: now)
    window: str  # as typed (empty: the default)
    explanation: Explanation | None
    error: str | None


async def explain_panel(
    svc: Service, name: str, at: str | None, window: str | None
) -> ExplainPanel:
    """The panel's answer, or the reason the time or window asked is not valid."""
    at_text, window_text = (at or "").strip(), (window or "").strip()
    try:
        when = parse_moment(at_text, svc.clock.now(), "explain_at") if at_text else None
        seconds = parse_duration(window_text, field="window") if window_text else None
        found = await svc.explain_job(name, when, seconds)
    except ConfigError as exc:
        return ExplainPanel(at_text, window_text, None, f"{exc.field}: {exc.reason}")
    return ExplainPanel(at_text, window_text, found, None)
