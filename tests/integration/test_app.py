"""The Python API: tasks defined with @app.task, enqueued from sync and async code, run for real."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from types import ModuleType

import pytest

from tests.integration.support import cli_json, start_tickwork, stop, wait_for
from tickwork import ConfigError, JobState, Tickwork


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("TW_TEST_DB", f"sqlite:///{tmp_path / 'app.db'}")
    import tests.integration.app_for_tests as mod

    return importlib.reload(mod)


async def test_decorated_tasks_run_in_process(app_module: ModuleType) -> None:
    app: Tickwork = app_module.app
    assert app_module.plain(4) == 8  # still a plain function
    stop_event = asyncio.Event()
    serving = asyncio.create_task(app.serve(stop_event))
    try:
        async with asyncio.timeout(10):
            service = None
            while service is None:
                await asyncio.sleep(0.02)
                service = app._service
            job_a = await app_module.plain.enqueue_async(21)
            job_b = await app_module.async_job.options(delay=0.2).enqueue_async(word="yo")
            # The sync facade, from a thread (as sync code would call it), while serving.
            job_c = await asyncio.to_thread(app.enqueue, "plain", args=[1])
            for job_id in (job_a, job_b, job_c):
                while (await service.get_job(job_id)).state is not JobState.SUCCEEDED:
                    await asyncio.sleep(0.02)
            runs = await service.runs_of_job(job_a)
            assert runs[0].result == 42
            assert (await service.runs_of_job(job_b))[0].result == "YO"
            names = {t.name for t in await service.list_tasks()}
            assert {"plain", "async-job", "ticker"} <= names
            ticker = await service.get_task("ticker")
            assert ticker.definition.schedule == "* * * * * *"
            assert ticker.definition.description == "every second"
    finally:
        stop_event.set()
        await serving


def test_sync_enqueue_without_a_running_app(app_module: ModuleType) -> None:
    app: Tickwork = app_module.app
    # A fresh database, no process ever started: the app registers what it defines first.
    job_id = app_module.plain.options(key="user-1", priority=5).enqueue(3)
    job = app.call(lambda s: s.get_job(job_id))
    assert job.state is JobState.AVAILABLE and job.key == "user-1" and job.priority == 5
    names = {t.name for t in app.call(lambda s: s.list_tasks())}
    assert names == {"plain", "async-job", "ticker"}
    # Arguments are checked against the function when enqueued, not when run.
    with pytest.raises(ConfigError, match=r"job 'plain': kwargs: unexpected keyword argument 'y'"):
        app_module.plain.enqueue(y=3)
    with pytest.raises(ConfigError, match=r"missing argument 'x'"):
        app.enqueue("plain")


def test_tasks_defined_after_the_first_enqueue_are_registered_too(tmp_path: Path) -> None:
    app = Tickwork(f"sqlite:///{tmp_path / 'late.db'}")

    @app.task
    def first() -> None: ...

    first.enqueue()

    @app.task
    def later(n: int) -> None: ...

    assert app.call(lambda s: s.get_task("later")).definition.args == ()
    later.enqueue(1)


def test_bad_decorator_arguments_name_the_task() -> None:
    app = Tickwork("sqlite:///unused.db")
    with pytest.raises(ConfigError, match=r"'broken'.*schedule"):

        @app.task(name="broken", schedule="every 0s")
        def broken() -> None: ...

    with pytest.raises(ConfigError, match=r"'neg'.*max_retries"):

        @app.task(name="neg", max_retries=-1)
        def neg() -> None: ...

    with pytest.raises(ConfigError, match=r"'typo'.*unexpected keyword argument 'nme'"):

        @app.task(name="typo", kwargs={"nme": "x"})
        def typo(name: str) -> None: ...

    with pytest.raises(ConfigError, match=r"'fires'.*missing argument 'name'"):

        @app.task(name="fires", schedule="@daily")
        def fires(name: str) -> None: ...


def test_retry_on_takes_exception_classes_and_names() -> None:
    app = Tickwork("sqlite:///unused.db")

    @app.task(max_retries=2, retry_on=[ConnectionError, "timeout"], no_retry_on=[KeyError])
    def picky() -> None: ...

    assert picky.definition.retry.retry_on == ("builtins.ConnectionError", "timeout")
    assert picky.definition.retry.no_retry_on == ("builtins.KeyError",)
    with pytest.raises(ConfigError, match=r"'bad'.*retry_on"):

        @app.task(name="bad", retry_on=["no spaces please"])
        def bad() -> None: ...


def test_tickwork_run_app_process(tmp_path: Path) -> None:
    ticks = tmp_path / "ticks.txt"
    env = {"TW_TEST_DB": f"sqlite:///{tmp_path / 'app.db'}", "TW_TEST_TICKS": str(ticks)}
    root = Path(__file__).resolve().parents[2]
    proc = start_tickwork(["run", "--app", "tests.integration.app_for_tests:app"], root, env)
    try:
        wait_for(lambda: ticks.exists() and len(ticks.read_text().split()) >= 2)
        db = ["--database-url", env["TW_TEST_DB"]]
        job = cli_json(["enqueue", "plain", "--args", "[5]", *db], root)["id"]
        wait_for(lambda: cli_json(["jobs", "get", str(job), *db], root)["state"] == "succeeded")
        assert cli_json(["jobs", "get", str(job), *db], root)["runs"][0]["result"] == 10
    finally:
        stop(proc)


def test_use_database_points_the_app_at_another_store() -> None:
    app = Tickwork("sqlite:///first.db", poll_interval="0.5s")
    app.use_database("sqlite:///second.db")
    assert app.settings.database_url == "sqlite:///second.db"
    assert app.settings.poll_interval_seconds == 0.5  # the rest is kept
    with pytest.raises(ConfigError, match="database_url"):
        app.use_database("")
