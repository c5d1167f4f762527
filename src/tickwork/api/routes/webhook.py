"""``POST /api/cron/webhook``: other systems trigger, enqueue or process due jobs with a secret."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, status
from pydantic import ValidationError

from tickwork.api.deps import WEBHOOK, get_context, secret_matches, service_for
from tickwork.api.errors import ApiError
from tickwork.api.schemas.common import MAX_MINUTES
from tickwork.api.schemas.webhook import WebhookIn, WebhookOut
from tickwork.domain.durations import parse_duration
from tickwork.domain.jobs import TriggeredBy
from tickwork.errors import ConfigError
from tickwork.service.jobs import EnqueueRequest

router = APIRouter(prefix="/api/cron", tags=["processor"])

WEBHOOK_SECRET_HEADER = "x-webhook-secret"


@router.post(
    "/webhook",
    response_model=WebhookOut,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": WebhookIn.model_json_schema()}},
        },
        "parameters": [
            {
                "name": "X-Webhook-Secret",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "the [api] webhook_secret (or send it as the body's 'secret')",
            }
        ],
    },
)
async def webhook(request: Request) -> WebhookOut:
    """For other systems: with the ``[api] webhook_secret`` (header ``X-Webhook-Secret`` or
    body field ``secret``), ``{"job": name}`` triggers a defined job now, ``{"task": name,
    "args", "kwargs", "delay"}`` enqueues a job of it, and the secret alone (no body, or only
    ``secret``) processes due jobs now, as ``POST /api/cron/trigger`` does (``action``
    ``process``, with ``due_jobs``). The secret is checked before the body."""
    ctx = get_context(request)
    expected = ctx.settings.webhook_secret
    if not expected:
        raise ApiError(404, "not_found", "the webhook is off: set [api] webhook_secret to use it")
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}  # no body: the secret alone
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "bad_request", f"request body is not valid JSON: {exc}") from None
    header = request.headers.get(WEBHOOK_SECRET_HEADER)
    body_secret = data.get("secret") if isinstance(data, dict) else None
    given = header if header is not None else body_secret
    if not secret_matches(given if isinstance(given, str) else None, expected):
        raise ApiError(401, "unauthorized", "missing or wrong webhook secret")
    try:
        body = WebhookIn.model_validate(data)
    except ValidationError as exc:
        raise _validation(exc) from None
    service = service_for(request, WEBHOOK)
    if body.job is not None and body.task is not None:
        raise ConfigError("give either 'job' (to trigger) or 'task' (to enqueue)", field="job")
    if body.job is None and body.task is None:
        extra = [f for f in ("args", "kwargs", "delay") if getattr(body, f) is not None]
        if extra:
            raise ConfigError("applies to an enqueue: give 'task' too", field=extra[0])
        return WebhookOut(action="process", due_jobs=await service.process_now())
    if body.job is not None:
        job_id = await service.trigger(body.job, triggered_by=TriggeredBy.WEBHOOK)
        return WebhookOut(action="trigger", job_id=job_id, task=body.job)
    assert body.task is not None
    delay = None if body.delay is None else parse_duration(body.delay, field="delay")
    if delay is not None and delay > MAX_MINUTES * 60:
        raise ConfigError(f"must be at most 10 years, got {body.delay!r}", field="delay")
    req = EnqueueRequest(
        task_name=body.task,
        args=body.args or (),
        kwargs=body.kwargs or {},
        delay_seconds=delay,
    )
    job_id = await service.enqueue(req, triggered_by=TriggeredBy.WEBHOOK)
    return WebhookOut(action="enqueue", job_id=job_id, task=body.task)


def _validation(exc: ValidationError) -> ConfigError:
    """A pydantic error of the webhook body as our 422, naming the field."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "body"
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "is required"
    elif kind == "model_type":
        message, field = "expected a JSON object", "body"
    else:
        message = str(first.get("msg", "invalid value"))
    return ConfigError(message, field=field)
