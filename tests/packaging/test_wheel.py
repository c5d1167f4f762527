"""The built distributions: every file of the package is in the wheel and the sdist, and the
wheel installed into a fresh virtual environment outside the repository runs on its own.

The wheel is built with the build backend (hatchling) straight from the source tree. By
default the fresh environment gets the wheel alone; the dependencies are borrowed from the test
environment by a path entry placed after the environment's own site-packages, so the test needs
no network and the ``tickwork`` package imported is the installed one (checked), not the source
tree. With ``TICKWORK_TEST_WHEEL_FROM_INDEX=1`` (CI sets it) pip installs the wheel with its
dependencies from the package index, as ``pip install tickwork`` would, and the distributions it
pulled must be the ones docs/how-to/install.md lists (and what those need).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import wait_for

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "tickwork"


def _project_version() -> str:
    version: str = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    return version


def _package_files() -> set[str]:
    """Every file of the package in the source tree (Python or not), relative to src/."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-t", "sdist", "-d", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def _only(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_the_wheel_carries_every_file_of_the_package(dist: Path) -> None:
    wheel = _only(dist, f"tickwork-{_project_version()}-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _package_files()
    # Templates, static assets, the migration scripts' template and py.typed, at least.
    non_python = {name for name in expected if not name.endswith(".py")}
    assert {"tickwork/py.typed", "tickwork/store/migrations/script.py.mako"} <= non_python
    assert any(name.startswith("tickwork/dashboard/static/") for name in non_python)
    assert any(name.startswith("tickwork/dashboard/templates/") for name in non_python)
    assert any(name.startswith("tickwork/store/migrations/versions/") for name in expected)
    assert sorted(expected - names) == []
    entry_points = zipfile.ZipFile(wheel).read(
        f"tickwork-{_project_version()}.dist-info/entry_points.txt"
    )
    assert b"tickwork = tickwork.cli:main" in entry_points


def test_the_sdist_carries_every_file_of_the_package(dist: Path) -> None:
    sdist = _only(dist, f"tickwork-{_project_version()}.tar.gz")
    root = f"tickwork-{_project_version()}/"
    with tarfile.open(sdist) as tar:
        names = {name.removeprefix(root) for name in tar.getnames()}
    assert sorted(f"src/{name}" for name in _package_files() if f"src/{name}" not in names) == []
    assert {"pyproject.toml", "README.md", "CHANGELOG.md"} <= names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


FROM_INDEX = os.environ.get("TICKWORK_TEST_WHEEL_FROM_INDEX") == "1"


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment outside the repository with the wheel installed."""
    home = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    wheel = _only(dist, "tickwork-*.whl")
    pip = [sys.executable, "-m", "pip", "--python", str(home / "bin" / "python")]
    if FROM_INDEX:
        subprocess.run(
            [*pip, "install", "--quiet", "--only-binary", ":all:", str(wheel)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        return home
    subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    site = subprocess.run(
        [
            str(home / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies: a plain path entry (not a site directory, so the test environment's own
    # editable install of tickwork is not picked up), searched after the environment's own.
    Path(site, "borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return home


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env.pop("PYTHONPATH", None)
    return env


def _tickwork(venv: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "tickwork"), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _documented_packages() -> set[str]:
    """The first column of docs/how-to/install.md's table of dependencies."""
    text = (REPO / "docs" / "how-to" / "install.md").read_text()
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names.update(part.strip(" `") for part in line.split("|")[1].split(","))
    return names


@pytest.mark.skipif(not FROM_INDEX, reason="needs TICKWORK_TEST_WHEEL_FROM_INDEX=1 (CI sets it)")
def test_pip_pulls_what_the_install_guide_lists(venv: Path) -> None:
    """Every documented package was installed, and every other one is what those need."""

    def pip(*args: str) -> str:
        python = str(venv / "bin" / "python")
        return subprocess.run(
            [sys.executable, "-m", "pip", "--python", python, *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    # --not-required: the distributions nothing else installed requires: tickwork alone.
    top = {d["name"].lower() for d in json.loads(pip("list", "--format", "json", "--not-required"))}
    assert top == {"tickwork"}
    shown = pip("show", "tickwork").splitlines()
    [requires] = [line for line in shown if line.startswith("Requires:")]
    direct = {name.strip().lower() for name in requires.removeprefix("Requires:").split(",")}
    assert direct == {name.lower() for name in _documented_packages()}


def test_the_installed_package_is_the_wheel(venv: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import tickwork; print(tickwork.__file__)"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout.strip()).is_relative_to(venv)


def test_version_and_a_database_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    done = _tickwork(venv, ["--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"tickwork {_project_version()}\n"

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = _tickwork(venv, ["db", "upgrade", "--database-url", url], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("schema at revision ")
    done = _tickwork(venv, ["jobs", "list", "--database-url", url, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.fixture
def running(venv: Path, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port = _free_port()
    (tmp_path / "tickwork.toml").write_text(
        textwrap.dedent(f"""
        [tickwork]
        database_url = "sqlite:///{tmp_path / "tw.db"}"
        poll_interval = "0.2s"

        [api]
        port = {port}

        [[jobs]]
        name = "tick"
        command = "echo tick"
        schedule = "every 1s"
        """)
    )
    proc = subprocess.Popen(
        [str(venv / "bin" / "tickwork"), "run"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield tmp_path, port
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def test_run_from_the_wheel_fires_a_job_and_serves_the_dashboard(
    venv: Path, running: tuple[Path, int]
) -> None:
    project, port = running

    def fired() -> bool:
        done = _tickwork(venv, ["jobs", "history", "tick", "--json"], project)
        return done.returncode == 0 and any(
            run["status"] == "succeeded" for run in json.loads(done.stdout)
        )

    wait_for(fired, timeout=60)
    _, body = wait_for(lambda: (s := _get(f"http://127.0.0.1:{port}/"))[0] == 200 and s)
    assert "<html" in body.lower()
    assert _get(f"http://127.0.0.1:{port}/health")[0] == 200
    css = next(part for part in body.split('"') if part.endswith(".css") or ".css?" in part)
    assert _get(f"http://127.0.0.1:{port}{css}")[0] == 200
