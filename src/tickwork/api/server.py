"""Serving the API with uvicorn inside an asyncio loop we own.

uvicorn's ``Server.serve`` installs its own SIGINT/SIGTERM handlers and calls ``sys.exit``
when it cannot bind; here the process (``launcher.serve``) owns the signals, and we bind the
socket ourselves so that a taken port is a one-line error, not a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from tickwork.errors import ConfigError

log = logging.getLogger("tickwork.api")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the process's own handlers stay in place


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); ``ConfigError``
    naming the address when it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"cannot resolve host {host!r}: {exc.strerror}", field="api.host"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="api.port"
        ) from None
    sock.setblocking(False)
    return sock


class ApiServer:
    """uvicorn serving ``app`` on ``host:port`` as a task of the running loop."""

    def __init__(
        self, app: FastAPI, host: str, port: int, *, shutdown_timeout_seconds: float = 10.0
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.shutdown_timeout_seconds = shutdown_timeout_seconds
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        assert self._socket is not None, "not started"
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind, start serving, and return once requests are accepted."""
        self._socket = bind_socket(self.host, self.requested_port)
        config = uvicorn.Config(
            self.app,
            log_config=None,  # our logging setup applies (request IDs, levels)
            access_log=False,  # ApiMiddleware logs each request with its ID
            lifespan="on",
            server_header=False,
            proxy_headers=False,  # client IPs (rate limits) are not taken from headers
            timeout_graceful_shutdown=int(self.shutdown_timeout_seconds),
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(
            self._server.serve(sockets=[self._socket]), name="tickwork-api"
        )
        while not self._server.started:
            if self._task.done():
                await self._fail()
            await asyncio.sleep(0.01)
        log.info("API listening on %s (docs at %s/api/docs)", self.url, self.url)

    async def _fail(self) -> None:
        assert self._task is not None
        with contextlib.suppress(SystemExit):  # uvicorn exits when its startup fails
            self._task.result()
        raise ConfigError("the API server failed to start (see the log above)")

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (up to the timeout), then close."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), self.shutdown_timeout_seconds + 5)
        except TimeoutError:
            server.force_exit = True
            with contextlib.suppress(BaseException):
                await task
        except SystemExit:
            pass
        finally:
            self._server = self._task = None
            if self._socket is not None:
                self._socket.close()
