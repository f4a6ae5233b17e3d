"""Running one server process: the listening socket (plain or TLS), its signals, and a graceful stop.

``run`` builds the application, starts listening and calls ``on_listening(url)`` only once the socket
accepts (the start-up line is written there). Signals: SIGTERM and SIGINT stop accepting at once (the
listening socket is closed, so new connections are refused), let running requests finish for up to
``shutdown_timeout`` seconds, cancel what is left, then run the application's cleanup, where running cache
downloads get the same time again before they are cancelled and their spool files removed; the process then
exits 0. SIGHUP reloads the TLS certificate (established connections keep theirs); the certificate files are
also checked every ``watch_seconds`` and reloaded when they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from cargohold.api.forwarded import ForwardedAccessLogger
from cargohold.registry.addresses import join_host_port
from cargohold.tls import ReloadingTls

log = logging.getLogger("cargohold")


@dataclass(frozen=True)
class Listener:
    """Where and how one process listens."""

    host: str
    port: int
    certificate: Path | None = None
    key: Path | None = None
    reuse_port: bool = False
    shutdown_timeout: float = 30.0
    watch_seconds: float = 5.0
    keepalive_timeout: float = 75.0
    access_log_format: str = '%a "%r" %s %b %Tf'
    access_log_class: type[AbstractAccessLogger] = ForwardedAccessLogger
    """What writes the access log (and observes each request): the composition root's choice."""

    @property
    def scheme(self) -> str:
        return "https" if self.certificate is not None else "http"


def run(
    make_app: Callable[[], Awaitable[web.Application]],
    listener: Listener,
    on_listening: Callable[[str], None],
) -> None:
    """Serve until SIGTERM/SIGINT (see the module docstring); errors of start-up propagate."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})  # held until it can reload (never a kill)
    loop = asyncio.new_event_loop()
    main = loop.create_task(_serve(make_app, listener, on_listening))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


async def _serve(
    make_app: Callable[[], Awaitable[web.Application]],
    listener: Listener,
    on_listening: Callable[[str], None],
) -> None:
    loop = asyncio.get_running_loop()
    tls = (
        ReloadingTls(listener.certificate, listener.key)
        if listener.certificate is not None and listener.key is not None
        else None
    )

    def hang_up() -> None:
        if tls is None:
            log.info("SIGHUP: nothing to reload (TLS is off)")
        else:
            tls.reload()

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, hang_up)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # one held since start reloads now
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(
        await make_app(),
        handle_signals=False,
        access_log=logging.getLogger("cargohold.access"),
        access_log_class=listener.access_log_class,
        access_log_format=listener.access_log_format,
        keepalive_timeout=listener.keepalive_timeout,
        shutdown_timeout=listener.shutdown_timeout,
    )
    await runner.setup()
    watcher: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(
            runner,
            listener.host,
            listener.port,
            ssl_context=tls.context if tls is not None else None,
            reuse_port=listener.reuse_port or None,
        )
        await site.start()
        if tls is not None and listener.watch_seconds > 0:
            watcher = asyncio.create_task(tls.watch(listener.watch_seconds))
        port = runner.addresses[0][1] if runner.addresses else listener.port
        on_listening(f"{listener.scheme}://{join_host_port(listener.host, port)}")
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        loop.remove_signal_handler(signal.SIGHUP)
        log.info("stopping: no new connections; running requests get up to %.0f s", listener.shutdown_timeout)
        # SIGTERM and SIGINT stay handled (doing nothing more) while draining: Ctrl-C reaches a parent's
        # workers and the parent's SIGTERM follows, and neither may cut the drain short
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("stopped")
