"""The deployment files of deploy/: the compose file against the Compose specification's
schema and our rules, the Dockerfile's rules, the systemd units and the Kubernetes manifests,
and that every command they start is a ``tickwork`` command that exists."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from tickwork.cli.commands import app

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _k8s() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "tickwork.yaml").read_text())]


def assert_tickwork_command(args: list[str]) -> None:
    """``args`` (after ``tickwork``) name an existing command and only its options."""
    import tickwork.cli.main  # noqa: F401  (registers every command)

    command: Any = typer.main.get_command(app)
    rest = list(args)
    # A group: the next word names a command of it (unless it is an option of the group).
    while hasattr(command, "get_command") and not (rest and rest[0].startswith("-")):
        assert rest, f"tickwork {shlex.join(args)} names a group, not a command"
        name = rest.pop(0)
        sub = command.get_command(
            command.make_context("tickwork", [], resilient_parsing=True), name
        )
        assert sub is not None, f"no command {name!r} in tickwork {shlex.join(args)}"
        command = sub
    # Parsing checks every option and its value without running the command.
    try:
        command.make_context(shlex.join(args), rest)
    except Exception as exc:
        if getattr(exc, "exit_code", None) != 0:  # an eager option such as --version exits 0
            raise


# --- compose -----------------------------------------------------------------------------------
def test_compose_file_is_valid_against_the_compose_specification() -> None:
    done = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_file_has_the_cluster_it_promises() -> None:
    services = _compose()["services"]
    postgres = services["postgres"]
    assert postgres["volumes"][0].split(":")[1] == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["env_file"] and postgres["restart"] == "unless-stopped"

    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}

    tickwork = {name: s for name, s in services.items() if name not in {"postgres", "migrate"}}
    roles = sorted(s["command"][0] for s in tickwork.values())
    assert roles == ["api", "scheduler", "scheduler", "worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name, service in tickwork.items():
        assert service["restart"] == "unless-stopped", name
        assert service["env_file"] == ["tickwork.env"], name
        assert service["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }, name
    assert "/health" in " ".join(services["api"]["healthcheck"]["test"])
    # Secrets come from the env files: nothing in the compose file itself names a password.
    assert "PASSWORD" not in (DEPLOY / "compose.yaml").read_text()
    for example in ("tickwork.env.example", "postgres.env.example"):
        assert (DEPLOY / example).is_file()


def test_compose_commands_are_tickwork_commands() -> None:
    for name, service in _compose()["services"].items():
        if name != "postgres":
            assert_tickwork_command(service["command"])


# --- Dockerfile --------------------------------------------------------------------------------
def _dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), one list per stage."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    stages: list[list[str]] = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        assert stages, f"instruction before the first FROM: {line}"
        stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_slim_and_unprivileged() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2
    build, final = stages[0], stages[-1]
    assert " AS " in build[0].upper()
    assert final[0].split()[1].endswith("-slim")
    # The final stage installs the wheel built by the first one, and no build tools.
    assert any(i.startswith("COPY --from=build") and ".whl" in i for i in final)
    for tool in ("gcc", "build-essential", "apt-get", "make ", "hatchling"):
        assert not any(tool in i for i in final), tool
    users = [i.split()[1] for i in final if i.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    (health,) = [i for i in final if i.startswith("HEALTHCHECK ")]
    assert "/health" in health
    (entry,) = [i for i in final if i.startswith("ENTRYPOINT ")]
    assert yaml.safe_load(entry.removeprefix("ENTRYPOINT ")) == ["tickwork"]
    (cmd,) = [i for i in final if i.startswith("CMD ")]
    assert_tickwork_command(yaml.safe_load(cmd.removeprefix("CMD ")))


# --- systemd -----------------------------------------------------------------------------------
def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("role", ["worker", "scheduler", "api"])
def test_systemd_unit(role: str) -> None:
    unit = _unit(DEPLOY / "systemd" / f"tickwork-{role}.service")
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["Restart"] in {"on-failure", "always"}
    assert service["User"] != "root"
    assert service["KillSignal"] == "SIGTERM"
    executable, *args = shlex.split(service["ExecStart"])
    assert executable.endswith("/tickwork") and args[0] == role
    assert_tickwork_command(args)
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    drop_in = _unit(DEPLOY / "systemd" / f"tickwork-{role}.service.d" / "environment.conf")
    assert drop_in["Service"]["EnvironmentFile"].startswith("/etc/tickwork/")


# --- Kubernetes --------------------------------------------------------------------------------
def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def test_kubernetes_manifests() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _k8s()}
    job = docs[("Job", "tickwork-migrate")]
    assert _containers(job)[0]["args"] == ["db", "upgrade"]
    deployments = {name: d for (kind, name), d in docs.items() if kind == "Deployment"}
    assert set(deployments) == {"tickwork-worker", "tickwork-scheduler", "tickwork-api"}
    assert deployments["tickwork-scheduler"]["spec"]["replicas"] == 2
    assert deployments["tickwork-worker"]["spec"]["replicas"] >= 2
    (api,) = _containers(deployments["tickwork-api"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert api[probe]["httpGet"]["path"] == "/health"
        assert api[probe]["httpGet"]["port"] in {"http", 8080}
    assert "--host" in api["args"] and "0.0.0.0" in api["args"]
    for (kind, name), doc in docs.items():
        if kind in {"Deployment", "Job"}:
            spec = doc["spec"]["template"]["spec"]
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            for container in _containers(doc):
                assert_tickwork_command(container["args"])
                assert container["envFrom"] == [{"secretRef": {"name": "tickwork-env"}}]
        if kind == "Deployment":
            selector = doc["spec"]["selector"]["matchLabels"]
            assert doc["spec"]["template"]["metadata"]["labels"] == selector, name
    service = docs[("Service", "tickwork-api")]
    assert service["spec"]["selector"] == {"app": "tickwork", "role": "api"}


def test_the_shipped_configurations_load(tmp_path: Path) -> None:
    from tickwork.config import load_config

    (tmp_path / "k8s.toml").write_text(
        docs_by_kind("ConfigMap")["tickwork-config"]["data"]["tickwork.toml"]
    )
    for path in (DEPLOY / "tickwork.toml", tmp_path / "k8s.toml"):
        config = load_config(path, environ={})
        assert config.tasks, path


def docs_by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _k8s() if d["kind"] == kind}
