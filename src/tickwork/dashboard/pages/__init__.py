"""The dashboard's pages, one module each. Adding a page: write its module (an ``APIRouter``
named ``router`` and its template), then add the module to ``PAGE_MODULES`` and, if it belongs
in the navigation, a ``NavItem`` to ``NAV``."""

from __future__ import annotations

from dataclasses import dataclass

from tickwork.dashboard.pages import (
    account,
    alerts,
    audit,
    auth,
    backfills,
    checks,
    dependencies,
    failures,
    job,
    job_actions,
    job_edit,
    jobs,
    load,
    overview,
    processors,
    queue,
    queue_job,
    report,
    run,
    users,
)
from tickwork.domain.access import Scope


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    scope: Scope  # shown only to those whose role allows it


PAGE_MODULES = (
    auth,
    overview,
    job_actions,
    backfills,
    processors,
    audit,
    users,
    account,
    queue,
    queue_job,
    run,
    failures,
    alerts,
    checks,
    jobs,
    job_edit,
    job,
    dependencies,
    report,
    load,
)

NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "/", Scope.JOBS_READ),
    NavItem("Jobs", "/jobs", Scope.JOBS_READ),
    NavItem("Queue", "/queue", Scope.JOBS_READ),
    NavItem("Dependencies", "/dependencies", Scope.JOBS_READ),
    NavItem("Failures", "/failures", Scope.JOBS_READ),
    NavItem("Checks", "/checks", Scope.JOBS_READ),
    NavItem("Alerts", "/alerts", Scope.JOBS_READ),
    NavItem("Processors", "/processors", Scope.JOBS_READ),
    NavItem("Report", "/report", Scope.JOBS_READ),
    NavItem("Load", "/load", Scope.JOBS_READ),
    NavItem("Audit log", "/audit", Scope.AUDIT_READ),
    NavItem("Users", "/users", Scope.ADMIN),
)
