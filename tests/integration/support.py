"""Helpers for tests that start real tickwork processes and real HTTP servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TICKWORK = str(Path(sys.executable).with_name("tickwork"))


class RecordingServer:
    """A real HTTP server on 127.0.0.1 that records each request's method and path."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                outer.requests.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status = 503 if self.path.startswith("/fail") else 200
                body = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def without_api(args: list[str]) -> list[str]:
    """``tickwork run`` serves the API on port 8080 by default: tests that do not test the API
    run without it, so that processes of parallel or successive tests never fight over it."""
    if args[:1] == ["run"] and not {"--no-api", "--port"} & set(args):
        return [*args, "--no-api"]
    return args


def start_tickwork(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen(
        [TICKWORK, *without_api(args)],
        cwd=cwd,
        env=full_env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def cli(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [TICKWORK, *without_api(args)],
        cwd=cwd,
        env=full_env,
        text=True,
        capture_output=True,
        timeout=60,
    )


def cli_json(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Any:
    done = cli([*args, "--json"], cwd, env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT, timeout: float = 30) -> str:
    """Signal the process, wait for it to exit cleanly, and return its output."""
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{out}"
    return out
