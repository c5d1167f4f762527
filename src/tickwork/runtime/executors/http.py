"""Running HTTP tasks: one pooled client, the request, and mapping responses to outcomes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx

from tickwork.domain.jobs import ErrorClass, Outcome
from tickwork.domain.policies import RETRY_AFTER_STATUSES, parse_retry_after, status_error_class
from tickwork.domain.processors import DEFAULT_OUTPUT_LIMIT_BYTES
from tickwork.domain.tasks import HttpTarget
from tickwork.runtime.executors.output import OutputTail

HTTP_MAX_CONNECTIONS = 100
HTTP_MAX_KEEPALIVE_CONNECTIONS = 20
_SNIFF_BYTES = 64
_HTML_PREFIXES = (b"<!doctype html", b"<html")


class HttpExecutor:
    """Sends the request of an HTTP task over a shared keep-alive connection pool."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        output_limit: int = DEFAULT_OUTPUT_LIMIT_BYTES,
    ) -> None:
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=HTTP_MAX_CONNECTIONS,
                max_keepalive_connections=HTTP_MAX_KEEPALIVE_CONNECTIONS,
            ),
            # The run's own timeout bounds each request; a task without one has none here either.
            timeout=None,
            # A redirect usually means a moved endpoint; report it instead of hiding it.
            follow_redirects=False,
        )
        self._output_limit = output_limit

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def run(self, target: HttpTarget, timeout_seconds: float | None) -> Outcome:
        method = target.method.upper()
        try:
            request = self._client.build_request(
                method,
                target.url,
                headers=target.headers,
                json=target.json,
                content=target.body if target.json is None else None,
                # Keeps a caller's client defaults from cutting a phase shorter than the run.
                timeout=(
                    httpx.Timeout(timeout_seconds)
                    if timeout_seconds is not None
                    else httpx.USE_CLIENT_DEFAULT
                ),
            )
        except httpx.InvalidURL as exc:
            return _config_failure(type(exc).__name__, f"invalid URL: {exc}")
        except (TypeError, ValueError) as exc:
            # Only a JSON error is quoted: an encoding error may quote a header value (a secret).
            detail = f": {exc}" if isinstance(exc, TypeError) else ""
            return _config_failure(
                type(exc).__name__,
                f"cannot build {method} request to {_safe_url(target.url)}{detail}",
            )

        try:
            async with asyncio.timeout(timeout_seconds):
                response = await self._client.send(request, stream=True)
                try:
                    tail = OutputTail(self._output_limit)
                    head = bytearray()
                    async for chunk in response.aiter_bytes():
                        if len(head) < _SNIFF_BYTES:
                            head += chunk[: _SNIFF_BYTES - len(head)]
                        tail.feed(chunk)
                finally:
                    await response.aclose()
        except TimeoutError:
            assert timeout_seconds is not None  # only a deadline can expire
            return Outcome.timed_out(timeout_seconds)
        except httpx.TimeoutException as exc:
            if timeout_seconds is not None:
                return Outcome.timed_out(timeout_seconds)
            # The caller's client had its own, shorter limits.
            return Outcome.failure(
                type(exc).__name__, _describe(exc), error_class=ErrorClass.TIMEOUT
            )
        except httpx.UnsupportedProtocol as exc:
            return _config_failure(type(exc).__name__, f"{exc} (URL {_safe_url(request.url)})")
        except httpx.LocalProtocolError as exc:
            # h11 quotes the offending header value in its message; never pass it on.
            return _config_failure(
                type(exc).__name__, f"the request to {_safe_url(request.url)} is malformed"
            )
        except httpx.TransportError as exc:
            return Outcome.failure(
                type(exc).__name__, _describe(exc), error_class=ErrorClass.NETWORK
            )
        except httpx.HTTPError as exc:
            return Outcome.failure(
                type(exc).__name__, _describe(exc), error_class=ErrorClass.UNKNOWN
            )

        status = response.status_code
        if target.is_expected(status):
            return Outcome.success(result={"status": status}, output=tail.text())

        result: dict[str, Any] = {"status": status}
        retry_after = response.headers.get("retry-after")
        wait: float | None = None
        if status in RETRY_AFTER_STATUSES and retry_after is not None:
            result["retry_after"] = retry_after
            # The next attempt waits this long instead of the backoff (next_state_after caps it).
            wait = parse_retry_after(retry_after, datetime.now(UTC))
        if _is_html(response, bytes(head)):
            # Error pages of proxies and frameworks are noise; their size is enough to know.
            output = f"[HTML response of {tail.total} bytes omitted]"
        else:
            output = tail.text()
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        failure = Outcome.failure(
            "HTTPStatus",
            f"HTTP {status}{reason} from {method} {_safe_url(request.url)}",
            error_class=status_error_class(status),
            output=output,
        )
        # Outcome.failure takes no result; the status (and Retry-After) still matter to retries.
        return dataclasses.replace(failure, result=result, retry_after_seconds=wait)


def _is_html(response: httpx.Response, head: bytes) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    if "text/html" in content_type or "application/xhtml" in content_type:
        return True
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_HTML_PREFIXES)


def _safe_url(url: httpx.URL | str) -> str:
    # Credentials in the userinfo part must not end up in stored messages.
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except httpx.InvalidURL:
        return "<invalid URL>"
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed)


def _describe(exc: Exception) -> str:
    return str(exc) or repr(exc)


def _config_failure(error_type: str, message: str) -> Outcome:
    return Outcome.failure(error_type, message, error_class=ErrorClass.CONFIG)
