"""HTTP executor against a real HTTP server on 127.0.0.1: statuses, errors, timeouts, pooling."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tickwork.domain.jobs import ErrorClass, RunStatus
from tickwork.domain.tasks import HttpTarget
from tickwork.runtime.executors.http import HttpExecutor

HTML_PAGE = b"<!DOCTYPE html><html><body><h1>Internal Server Error</h1></body></html>"
SECRET = "s3cr3t-token-value"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0
    release = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be observed
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1  # setup runs once per TCP connection

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        path = self.path
        if path == "/json":
            self._reply(200, b'{"ok": true}', "application/json")
        elif path == "/echo":
            echoed = {
                "method": self.command,
                "body": payload.decode(),
                "content_type": self.headers.get("Content-Type"),
            }
            self._reply(200, json.dumps(echoed).encode(), "application/json")
        elif path == "/empty":
            self.send_response(204)
            self.end_headers()
        elif path == "/moved":
            self._reply(301, b"moved", headers={"Location": "/json"})
        elif path == "/unauthorized":
            self._reply(401, b"who are you")
        elif path == "/forbidden":
            self._reply(403, b"no")
        elif path == "/missing":
            self._reply(404, b"not here")
        elif path == "/request-timeout":
            self._reply(408, b"too slow to ask")
        elif path == "/limited":
            self._reply(429, b"slow down", headers={"Retry-After": "7"})
        elif path.startswith("/retry-after/"):
            # /retry-after/<status>/<seconds from now, sent as an HTTP-date>
            _, _, status, delta = path.split("/")
            when = formatdate(time.time() + float(delta), usegmt=True)
            self._reply(int(status), b"later", headers={"Retry-After": when})
        elif path == "/unavailable":
            self._reply(503, b"maintenance", headers={"Retry-After": "120"})
        elif path == "/limited-unreadable":
            self._reply(429, b"slow down", headers={"Retry-After": "whenever"})
        elif path == "/teapot-with-retry-after":
            self._reply(418, b"no", headers={"Retry-After": "5"})
        elif path == "/broken":
            self._reply(500, HTML_PAGE, "text/html; charset=utf-8")
        elif path == "/sniffed":
            self._reply(503, b"  <HTML><body>down</body></HTML>", "text/plain")
        elif path == "/big":
            self._reply(200, b"x" * 100_000 + b"END")
        elif path == "/slow":
            self.server.release.wait(5)
            self._reply(200, b"late")
        else:
            self._reply(404, b"no route")

    do_GET = do_POST = do_HEAD = _route


@dataclass
class Server:
    base: str
    httpd: _Server


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.release = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", httpd)
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
async def executor() -> AsyncIterator[HttpExecutor]:
    ex = HttpExecutor()
    yield ex
    await ex.aclose()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_2xx_json_succeeds_with_status_and_body(
    server: Server, executor: HttpExecutor
) -> None:
    outcome = await executor.run(HttpTarget(f"{server.base}/json"), 5.0)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.result == {"status": 200}
    assert outcome.output == '{"ok": true}'


async def test_204_succeeds_with_empty_output(server: Server, executor: HttpExecutor) -> None:
    outcome = await executor.run(HttpTarget(f"{server.base}/empty"), 5.0)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.result == {"status": 204}
    assert outcome.output == ""


async def test_method_json_and_body_are_sent(server: Server, executor: HttpExecutor) -> None:
    with_json = await executor.run(
        HttpTarget(f"{server.base}/echo", method="post", json={"a": 1}), 5.0
    )
    assert with_json.output is not None
    echoed = json.loads(with_json.output)
    assert echoed["method"] == "POST"
    assert json.loads(echoed["body"]) == {"a": 1}
    assert echoed["content_type"] == "application/json"
    with_body = await executor.run(
        HttpTarget(
            f"{server.base}/echo",
            method="POST",
            body="raw text",
            headers={"Content-Type": "text/plain"},
        ),
        5.0,
    )
    assert with_body.output is not None
    assert json.loads(with_body.output)["body"] == "raw text"


async def test_redirect_is_not_followed_and_is_unknown_unless_expected(
    server: Server, executor: HttpExecutor
) -> None:
    outcome = await executor.run(HttpTarget(f"{server.base}/moved"), 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "HTTPStatus"
    assert outcome.error_class is ErrorClass.UNKNOWN
    assert outcome.error_message == f"HTTP 301 Moved Permanently from GET {server.base}/moved"
    expected = await executor.run(HttpTarget(f"{server.base}/moved", expected_statuses=(301,)), 5.0)
    assert expected.status is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("path", "error_class"),
    [
        ("/unauthorized", ErrorClass.AUTH),
        ("/forbidden", ErrorClass.AUTH),
        ("/missing", ErrorClass.VALIDATION),
        ("/broken", ErrorClass.SERVER_ERROR),
        ("/limited", ErrorClass.RATE_LIMIT),
        ("/request-timeout", ErrorClass.TIMEOUT),  # 408: a new try may do, unlike other 4xx
    ],
)
async def test_status_failures_are_classified(
    server: Server, executor: HttpExecutor, path: str, error_class: ErrorClass
) -> None:
    outcome = await executor.run(HttpTarget(f"{server.base}{path}"), 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "HTTPStatus"
    assert outcome.error_class is error_class


async def test_404_keeps_a_plain_body(server: Server, executor: HttpExecutor) -> None:
    outcome = await executor.run(HttpTarget(f"{server.base}/missing"), 5.0)
    assert outcome.output == "not here"
    assert outcome.result == {"status": 404}


async def test_429_reports_retry_after(server: Server, executor: HttpExecutor) -> None:
    outcome = await executor.run(HttpTarget(f"{server.base}/limited"), 5.0)
    assert outcome.result == {"status": 429, "retry_after": "7"}
    assert outcome.error_message == f"HTTP 429 Too Many Requests from GET {server.base}/limited"


async def test_retry_after_seconds_on_429_and_503(server: Server, executor: HttpExecutor) -> None:
    limited = await executor.run(HttpTarget(f"{server.base}/limited"), 5.0)
    assert limited.error_class is ErrorClass.RATE_LIMIT
    assert limited.retry_after_seconds == 7.0
    unavailable = await executor.run(HttpTarget(f"{server.base}/unavailable"), 5.0)
    assert unavailable.error_class is ErrorClass.SERVER_ERROR
    assert unavailable.retry_after_seconds == 120.0
    assert unavailable.result == {"status": 503, "retry_after": "120"}


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_http_date(server: Server, executor: HttpExecutor, status: int) -> None:
    outcome = await executor.run(HttpTarget(f"{server.base}/retry-after/{status}/90"), 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.retry_after_seconds is not None
    # HTTP-dates have whole seconds; allow for that and for the test's own run time.
    assert 87.0 <= outcome.retry_after_seconds <= 90.0
    past = await executor.run(HttpTarget(f"{server.base}/retry-after/{status}/-60"), 5.0)
    assert past.retry_after_seconds == 0.0


async def test_retry_after_is_ignored_when_unreadable_or_on_other_statuses(
    server: Server, executor: HttpExecutor
) -> None:
    unreadable = await executor.run(HttpTarget(f"{server.base}/limited-unreadable"), 5.0)
    assert unreadable.error_class is ErrorClass.RATE_LIMIT
    assert unreadable.retry_after_seconds is None
    teapot = await executor.run(HttpTarget(f"{server.base}/teapot-with-retry-after"), 5.0)
    assert teapot.retry_after_seconds is None
    assert teapot.result == {"status": 418}
    broken = await executor.run(HttpTarget(f"{server.base}/broken"), 5.0)
    assert broken.retry_after_seconds is None


async def test_html_error_pages_are_not_stored(server: Server, executor: HttpExecutor) -> None:
    broken = await executor.run(HttpTarget(f"{server.base}/broken"), 5.0)
    assert broken.output == f"[HTML response of {len(HTML_PAGE)} bytes omitted]"
    sniffed = await executor.run(HttpTarget(f"{server.base}/sniffed"), 5.0)
    assert sniffed.error_class is ErrorClass.SERVER_ERROR
    assert sniffed.output is not None and sniffed.output.startswith("[HTML response of")


async def test_body_is_capped_to_its_tail(server: Server) -> None:
    ex = HttpExecutor(output_limit=100)
    try:
        outcome = await ex.run(HttpTarget(f"{server.base}/big"), 5.0)
    finally:
        await ex.aclose()
    assert outcome.output is not None
    assert outcome.output.startswith("[... 99903 bytes truncated ...]\n")
    assert outcome.output.endswith("xEND")


async def test_slow_response_times_out(server: Server, executor: HttpExecutor) -> None:
    started = time.monotonic()
    outcome = await executor.run(HttpTarget(f"{server.base}/slow"), 0.3)
    assert time.monotonic() - started < 2
    assert outcome.status is RunStatus.TIMEOUT
    assert outcome.error_class is ErrorClass.TIMEOUT


async def test_sequential_runs_reuse_one_connection(server: Server, executor: HttpExecutor) -> None:
    before = server.httpd.connections
    for _ in range(5):
        outcome = await executor.run(HttpTarget(f"{server.base}/json"), 5.0)
        assert outcome.status is RunStatus.SUCCEEDED
    assert server.httpd.connections - before == 1


async def test_closed_port_is_a_network_failure(executor: HttpExecutor) -> None:
    url = f"http://127.0.0.1:{closed_port()}/x"
    outcome = await executor.run(HttpTarget(url, headers={"Authorization": SECRET}), 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "ConnectError"
    assert outcome.error_class is ErrorClass.NETWORK
    assert SECRET not in (outcome.error_message or "")


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/file", "http://127.0.0.1:abc/"])
async def test_invalid_url_is_a_config_failure(executor: HttpExecutor, url: str) -> None:
    outcome = await executor.run(HttpTarget(url), 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_class is ErrorClass.CONFIG


async def test_secrets_stay_out_of_messages(server: Server, executor: HttpExecutor) -> None:
    userinfo_url = server.base.replace("http://", f"http://user:{SECRET}@") + "/missing"
    outcome = await executor.run(HttpTarget(userinfo_url, headers={"X-Token": SECRET}), 5.0)
    assert outcome.error_class is ErrorClass.VALIDATION
    assert SECRET not in (outcome.error_message or "")
    bad_header = await executor.run(
        HttpTarget(f"{server.base}/json", headers={"X-Token": f"{SECRET}\nInjected: 1"}), 5.0
    )
    assert bad_header.status is RunStatus.FAILED
    assert SECRET not in (bad_header.error_message or "")


async def test_a_given_client_is_used_and_left_open(server: Server) -> None:
    client = httpx.AsyncClient()
    ex = HttpExecutor(client)
    outcome = await ex.run(HttpTarget(f"{server.base}/json"), 5.0)
    assert outcome.status is RunStatus.SUCCEEDED
    await ex.aclose()
    assert not client.is_closed
    await client.aclose()
