"""The ``taskq`` command line. Thin commands over the client, the worker and the
supervisor; every setting also comes from ``TASKQ_*`` variables (see ``system.config``)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

import click
import orjson
import redis.exceptions

from system.config import Settings
from system.core.connection import redact
from system.core.errors import TaskqError


def _settings(redis_url: str | None, **worker: Any) -> Settings:
    settings = Settings()
    if redis_url:
        settings.redis_url = redis_url
    given = {k: v for k, v in worker.items() if v not in (None, ())}
    if given:
        settings.worker = settings.worker.model_copy(update=given)
    return settings


URL_META = "taskq.redis_url"  # the URL a command uses, for its error messages


def _require_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise click.UsageError(
            "no Redis given: pass --redis-url or set TASKQ_REDIS_URL "
            "(`taskq up` starts a private Redis and says where its URL is)"
        )
    click.get_current_context().meta[URL_META] = settings.redis_url
    return settings.redis_url


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s"
    )


def _run_async(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (faster task switching and socket I/O), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


redis_url_option = click.option(
    "--redis-url", default=None, help="Redis URL (else TASKQ_REDIS_URL)."
)
log_level_option = click.option("--log-level", default="info", show_default=True)


def _redis_problem(exc: redis.exceptions.RedisError, url: str) -> str:
    """One line for a Redis that refuses us or cannot be reached (no traceback)."""
    url = redact(url) if url else "the Redis URL"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, redis.exceptions.AuthenticationError) or "NOAUTH" in text:
        return f"Redis at {url} refused the password: {text} (check TASKQ_REDIS_URL / --redis-url)"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return f"cannot reach Redis at {url}: {text}"
    return f"Redis at {url} answered with an error: {text}"


class _Commands(click.Group):
    """Every command: a Redis that refuses the password or cannot be reached is one line
    and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except redis.exceptions.RedisError as exc:
            raise click.ClickException(_redis_problem(exc, ctx.meta.get(URL_META, ""))) from None


def _ping(url: str) -> None:
    """Reach Redis before starting a server on it: a wrong password or an unreachable
    Redis is then the one line of ``_Commands``, not a traceback from a child's start-up."""
    from system.core.connection import connect

    click.get_current_context().meta[URL_META] = url
    client = connect(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    finally:
        client.close()


def _refuse_open_without_keys(settings: Settings, host: str) -> None:
    from system.api.security import is_loopback

    if not settings.api_keys and not is_loopback(host):
        raise click.UsageError(
            f"refusing to listen on {host} without API keys: anyone who can reach it could "
            "submit and cancel tasks. Set TASKQ_API_KEYS=key1,key2 or bind 127.0.0.1."
        )


@click.group(cls=_Commands)
@click.version_option(package_name="taskq")
def main() -> None:
    """taskq: a distributed task queue on Redis, and its lab bench."""


@main.command()
@redis_url_option
@click.option("-c", "--concurrency", type=int, help="Tasks in flight in this process.")
@click.option("-Q", "--queues", help="Comma-separated queues, in order of preference.")
@click.option("--import", "imports", multiple=True, help="Module with @task handlers.")
@click.option("--burst", is_flag=True, default=None, help="Exit when the queues are empty.")
@click.option("--shutdown-timeout", type=float, help="Seconds in-flight tasks may finish.")
@click.option("--processes", type=int, help="Process pool size for CPU-bound handlers.")
@click.option("--metrics-port", type=int, help="Serve Prometheus /metrics here (0: off).")
@log_level_option
def worker(
    redis_url: str | None,
    concurrency: int | None,
    queues: str | None,
    imports: tuple[str, ...],
    burst: bool | None,
    shutdown_timeout: float | None,
    processes: int | None,
    metrics_port: int | None,
    log_level: str,
) -> None:
    """Run a worker process."""
    settings = _settings(
        redis_url,
        concurrency=concurrency,
        queues=queues.split(",") if queues else None,
        imports=list(imports) or None,
        burst=burst,
        shutdown_timeout_seconds=shutdown_timeout,
        processes=processes,
        metrics_port=metrics_port,
    )
    url = _require_url(settings)
    _logging(log_level)
    if settings.worker.metrics_port:
        from system.worker.exposition import use_multiprocess_dir

        use_multiprocess_dir()  # before anything imports prometheus_client
    import system.handlers  # noqa: F401  (registers the built-in handlers)
    from system.registry import import_modules
    from system.worker.worker import Worker

    import_modules(settings.worker.imports)

    async def run() -> None:
        w = Worker(url, settings)
        w.install_signal_handlers()
        await w.run()

    try:
        _run_async(run())
    except TaskqError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@redis_url_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--import", "imports", multiple=True, help="Module with @task handlers.")
@log_level_option
def api(
    redis_url: str | None, host: str, port: int, imports: tuple[str, ...], log_level: str
) -> None:
    """Serve the REST API (uvicorn)."""
    from system.api.app import create_app
    from system.api.server import serve
    from system.registry import import_modules

    settings = _settings(redis_url)
    _refuse_open_without_keys(settings, host)
    _ping(_require_url(settings))
    _logging(log_level)
    import system.handlers  # noqa: F401  (the API validates payloads of the built-ins)

    import_modules(imports)
    serve(create_app(settings), settings.api, host, port, log_level)


@main.command()
@redis_url_option
@click.argument("task_type")
@click.option("--payload", default="null", help="Payload as JSON.")
@click.option("-q", "--queue", default="default", show_default=True)
@click.option("--priority", type=int, default=0, show_default=True)
@click.option("--max-retries", type=int)
@click.option("--delay", "delay_seconds", type=float, help="Seconds before it may run.")
@click.option("--timeout", "timeout_seconds", type=float, help="Seconds it may run.")
@click.option("--idempotency-key")
@click.option("--wait", "wait_seconds", type=float, help="Wait up to S seconds for the result.")
def submit(
    redis_url: str | None, task_type: str, payload: str, wait_seconds: float | None, **options: Any
) -> None:
    """Submit a task; prints its id (and its record with --wait)."""
    from system.client import Client

    url = _require_url(_settings(redis_url))
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--payload") from None
    try:
        with Client(url) as client:
            sub = client.submit(task_type, data, **options)
            click.echo(sub.id)
            if wait_seconds is not None:
                _print_record(client.wait(sub.id, wait_seconds))
    except (TaskqError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@redis_url_option
@click.argument("task_id")
def status(redis_url: str | None, task_id: str) -> None:
    """Show a task's record."""
    from system.client import Client

    url = _require_url(_settings(redis_url))
    try:
        with Client(url) as client:
            _print_record(client.get(task_id))
    except TaskqError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@redis_url_option
def info(redis_url: str | None) -> None:
    """Queues and workers, as tables."""
    import time

    from system.client import Client

    url = _require_url(_settings(redis_url))
    with Client(url) as client:
        click.echo(
            f"{'queue':20} {'queued':>8} {'scheduled':>9} {'running':>8} {'failed':>7} "
            f"{'succeeded':>10} {'paused':>6}"
        )
        for q in client.queues():
            s = client.stats(q)
            done = s.counters.get("succeeded", 0)
            click.echo(
                f"{q:20} {s.queued:>8} {s.scheduled:>9} {s.running:>8} {s.dead:>7} "
                f"{done:>10} {'yes' if s.paused else 'no':>6}"
            )
        click.echo()
        click.echo(f"{'worker':32} {'queues':20} {'conc':>5} {'busy':>5} {'done':>8} {'beat':>6}")
        now = time.time() * 1000
        for w in client.workers():
            beat = f"{(now - w.heartbeat_ms) / 1000:.1f}s"
            click.echo(
                f"{w.id:32} {','.join(w.queues):20} {w.concurrency:>5} {w.in_flight:>5} "
                f"{w.processed:>8} {beat:>6}"
            )


@main.group()
def dlq() -> None:
    """Inspect and requeue dead-lettered tasks."""


@dlq.command("list")
@redis_url_option
@click.option("-q", "--queue", default="default", show_default=True)
@click.option("--limit", type=int, default=20, show_default=True)
def dlq_list(redis_url: str | None, queue: str, limit: int) -> None:
    """Dead-lettered tasks, oldest first, with their last error."""
    from system.client import Client

    url = _require_url(_settings(redis_url))
    with Client(url) as client:
        for r in client.dead_letters(queue, limit):
            click.echo(f"{r.id}  {r.task_type}  attempts={r.attempts}  {r.error}")


@dlq.command("requeue")
@redis_url_option
@click.option("-q", "--queue", default="default", show_default=True)
@click.argument("task_ids", nargs=-1)
def dlq_requeue(redis_url: str | None, queue: str, task_ids: tuple[str, ...]) -> None:
    """Requeue the given dead-lettered tasks (none given: all of them, up to 1,000)."""
    from system.client import Client

    url = _require_url(_settings(redis_url))
    with Client(url) as client:
        moved = client.requeue_dead(queue, task_ids)
    click.echo(f"requeued {len(moved)} task(s)")


def _print_record(record: Any) -> None:
    from dataclasses import asdict

    click.echo(orjson.dumps(asdict(record), option=orjson.OPT_INDENT_2).decode())


@main.command()
@redis_url_option
@click.option("-w", "--workers", type=int, default=2, show_default=True)
@click.option("-c", "--concurrency", type=int, default=None)
@click.option("--host", default="127.0.0.1", show_default=True, help="API address.")
@click.option("--port", type=int, default=8000, show_default=True, help="API port (0: no API).")
@click.option(
    "--autoscale",
    metavar="MIN:MAX",
    default=None,
    help="Set the worker count from the queue's backlog and wait, within MIN:MAX.",
)
@click.option(
    "--target-wait",
    type=float,
    default=1.0,
    show_default=True,
    help="Autoscaling: the queue wait (seconds) to hold (cooldowns, interval: "
    "TASKQ_AUTOSCALE__* variables).",
)
@click.option(
    "-Q", "--queue", default="default", show_default=True, help="Autoscaling: the queue to watch."
)
@log_level_option
def up(
    redis_url: str | None,
    workers: int,
    concurrency: int | None,
    host: str,
    port: int,
    autoscale: str | None,
    target_wait: float,
    queue: str,
    log_level: str,
) -> None:
    """Run a private Redis (unless --redis-url), the API and N workers until Ctrl-C."""
    from pydantic import ValidationError

    from system.autoscaler import parse_range
    from system.config import AutoscaleSettings
    from system.supervisor import Stack

    if port:
        _refuse_open_without_keys(Settings(), host)
    if redis_url or Settings().redis_url:
        _ping(redis_url or Settings().redis_url or "")
    _logging(log_level)
    policy = None
    if autoscale:
        try:
            low, high = parse_range(autoscale)
            configured = Settings().autoscale.model_dump()
            policy = AutoscaleSettings.model_validate(
                {
                    **configured,
                    "min_workers": low,
                    "max_workers": high,
                    "target_wait_seconds": target_wait,
                }
            )
        except (ValueError, ValidationError) as exc:
            raise click.BadParameter(str(exc), param_hint="--autoscale") from None
        workers = min(max(workers, policy.min_workers), policy.max_workers)
    stack = Stack(
        redis_url or Settings().redis_url,
        workers=workers,
        concurrency=concurrency,
        api_port=port or None,
        api_host=host,
        autoscale=policy,
        queue=queue,
    )
    try:
        stack.start()
    except (RuntimeError, TaskqError) as exc:  # a child that did not start: its own words
        raise click.ClickException(str(exc).strip().splitlines()[0]) from None
    with stack:
        shown = redact(stack.redis_url)
        click.echo(f"Redis: {shown}   workers: {workers}   (Ctrl-C stops everything)")
        if stack.api_url:
            click.echo(f"API: {stack.api_url}   (docs: {stack.api_url}/docs)")
        if stack.url_file is not None:
            # The password is in a file only this user reads, not on the screen.
            click.echo(f"the URL with its password: export TASKQ_REDIS_URL=$(cat {stack.url_file})")
        hint = "taskq submit echo --payload '{\"hi\": 1}' --wait 5"
        click.echo(f"try:  {hint}   (with TASKQ_REDIS_URL set)")
        stack.wait()


@main.command()
@click.option("-n", "--tasks", type=int, default=2000, show_default=True)
@click.option("-w", "--workers", type=int, default=2, show_default=True)
@click.option("--log-level", default="warning", show_default=True)
def demo(tasks: int, workers: int, log_level: str) -> None:
    """Start a private Redis and workers, run a mix of built-in tasks, print a summary."""
    from system.demo import run_demo

    _logging(log_level)
    sys.exit(run_demo(tasks=tasks, workers=workers, log_level=log_level))
