"""``python main.py run``: the channels enabled in config.toml, the outbox dispatcher,
the background workers and, when a channel needs it, the web app.

Start-up order matters for "nothing lost, nothing twice": outbox claims nobody holds
any more (a killed process on this host, leases that ran out) go back to ``pending`` -
claims of other live processes are left alone; events received but not processed are
processed (in arrival order) before any new update is fetched; only then do the
loops start. SIGTERM/SIGINT drain: ``/readyz`` answers 503 at once (and for
``[web] drain_grace_seconds`` the process keeps working, so a load balancer can stop
sending), then fetching stops, the events and outbox sends in flight finish, the
process hands back the outbox claims it still holds, stops its web server last and
exits 0 - within ``DRAIN_SECONDS``, after which what is left is cancelled. SIGKILL at
any moment is covered by the inbox and the outbox.

A channel plugs in with one function ``async def start_x(rt: Runtime) -> None`` that
registers its messenger in ``rt.app.channels`` and adds its loops, web routes and
clean-up to ``rt``; :func:`start_channels` calls it when the channel is enabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from app.runtime import Runtime
from app.wiring import App, build_app
from core.settings import Settings

log = logging.getLogger(__name__)

# Job kinds with a worker of their own, and how many run at once (each sandboxed run is
# CPU-bound: one at a time leaves the other cores to the bot).
CODE_QUEUE = frozenset({"code"})
CODE_WORKERS = 1
DRAIN_SECONDS = 30.0  # how long the loops get to finish their work after SIGTERM


async def start_channels(rt: Runtime) -> None:
    """Start every channel enabled in config.toml (one line per channel)."""
    settings = rt.app.settings
    from web.coding_page import start_coding_page
    from web.contracts import start_signing

    await start_signing(rt)
    await start_coding_page(rt)
    from web.console.routes import start_console

    await start_console(rt)
    if settings.telegram.enabled:
        from bot.telegram import start_telegram

        await start_telegram(rt)
    if settings.wechat.enabled or settings.wechat.work_enabled:
        from web.wechat_routes import start_wechat

        await start_wechat(rt)


class _Server(uvicorn.Server):
    """uvicorn inside our loop: the runner, not uvicorn, owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def run(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[Runtime], None] | None = None,
    build: Callable[[Settings], App] = build_app,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); returns the exit code.

    Args:
        settings: the loaded configuration.
        stop: set it to stop (tests, benchmarks); a new one if None.
        handle_signals: install SIGTERM/SIGINT handlers (only on the main thread).
        on_ready: called once every loop is running (tests, benchmarks).
        build: makes the App (tests pass one with fake models).
    """
    stop = stop or asyncio.Event()
    app = await asyncio.to_thread(build, settings)
    rt = Runtime(app=app, stop=stop, dispatcher=app.dispatcher())
    loop = asyncio.get_running_loop()

    def drain() -> None:
        if app.draining:
            stop.set()  # a second signal: stop now
            return
        app.draining = True  # readiness first: the load balancer stops sending
        grace = settings.web.drain_grace_seconds
        log.info("draining: not ready; stopping in %.1f s", grace)
        loop.call_later(grace, stop.set)

    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, drain)
    tasks: dict[asyncio.Task[Any], str] = {}
    server: _Server | None = None
    try:
        await start_channels(rt)
        if stop.is_set():
            return 0
        if not app.channels:
            # The web app (signing pages, HR console) is still served.
            log.warning(
                "no chat channel is enabled ([telegram] or [wechat] in config.toml): "
                "serving the web pages only"
            )
        recovered = await asyncio.to_thread(rt.dispatcher.recover)
        if recovered:
            log.info("outbox: %d messages nobody holds any more will be sent again", recovered)
        await asyncio.to_thread(app.engine.process_pending)
        from dialogs.scheduling import flow as scheduling

        # Reminders: every process runs one; only the lease holder schedules.
        reminder_scheduler = scheduling.install(app)
        tasks[asyncio.create_task(rt.dispatcher.run(stop))] = "dispatcher"
        if settings.workers.backend == "celery":
            # Jobs run in `python main.py worker` processes (code on the `code` queue);
            # this one publishes them.
            from app.celery_jobs import relay_for

            tasks[asyncio.create_task(relay_for(app).run(stop))] = "job relay"
        else:
            tasks[asyncio.create_task(app.worker(exclude=CODE_QUEUE).run(stop))] = "worker"
            if CODE_QUEUE & set(app.handlers):  # candidates' code: a queue of its own
                code_worker = app.worker(CODE_QUEUE).run(stop, concurrency=CODE_WORKERS)
                tasks[asyncio.create_task(code_worker)] = "code worker"
        tasks[asyncio.create_task(reminder_scheduler.run(stop))] = "reminders"
        for name, channel_loop in rt.loops:
            tasks[asyncio.create_task(channel_loop(stop))] = name
        if rt.wants_web:
            from web.app import create_app

            asgi = create_app(app, extra_routes=rt.routes)
            web = settings.web
            server = _Server(
                uvicorn.Config(
                    asgi,
                    host=web.host,
                    port=web.port,
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                    # our handlers (redacting, with the log file), not uvicorn's own
                    log_config=None,
                )
            )
            tasks[asyncio.create_task(server.serve())] = "web"
        log.info("running: %s; stop with Ctrl-C", ", ".join(sorted(app.channels)))
        if on_ready is not None:
            on_ready(rt)
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        failed = [t for t in done if t is not stopper and t.exception() is not None]
        stop.set()
        if failed:
            error = failed[0].exception()
            log.error("%s stopped: %s", tasks[failed[0]], error)
            assert error is not None
            raise error
        return 0
    finally:
        app.draining = True
        stop.set()
        # The loops finish what they are doing (the dispatcher its round, then it hands
        # back its claims); the web server goes last, so requests in flight are answered.
        web_tasks = [t for t, name in tasks.items() if name == "web"]
        await _finish([t for t in tasks if t not in web_tasks], tasks, DRAIN_SECONDS)
        if server is not None:
            server.should_exit = True
        await _finish(web_tasks, tasks, 10.0)
        for closer in reversed(rt.closers):
            try:
                await closer()
            except Exception:
                log.exception("closing a channel failed")
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        app.db.engine.dispose()
        log.info("stopped")


async def _finish(
    waiting: list[asyncio.Task[Any]], names: dict[asyncio.Task[Any], str], within: float
) -> None:
    if not waiting:
        return
    _, pending = await asyncio.wait(waiting, timeout=within)
    for task in pending:
        log.warning("%s did not stop in time; cancelling", names[task])
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)


def main(settings: Settings) -> int:
    """Entry for ``python main.py run``."""
    return asyncio.run(run(settings))
