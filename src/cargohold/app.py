"""The composition root: builds the stores and services from settings and hands them to the HTTP layer.

This is the only module that wires; everything below receives what it needs through its constructor.
On start it loads (or creates) the server key, opens the metadata store with it (proxy passwords are
encrypted at rest) and makes sure an ``admin`` user exists, printing a generated password once to stderr.
``serve`` runs the server in this process, or in ``workers`` processes sharing the port (SO_REUSEPORT), kept
running by ``cargohold.supervisor``; each process serves through ``cargohold.running`` (TLS, signals, the
drain), and the start-up line is written once a socket accepts (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import signal
import sys
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from cargohold.api.application import build_web_app
from cargohold.api.auth.setup import HttpAuth
from cargohold.api.health import Readiness, blob_store_check, database_check, free_space_check
from cargohold.api.management.metrics import GcMetrics, MetricsConfig
from cargohold.api.management.services import ManagementServices
from cargohold.api.observe.access import observer_class
from cargohold.api.observe.logformat import announce, configure_logging
from cargohold.api.observe.metrics import HttpMetrics, prepare_multiprocess
from cargohold.api.oci.services import OciServices
from cargohold.api.ui.access import SessionConfig
from cargohold.auth.authenticator import Authenticator
from cargohold.auth.passwords import Passwords
from cargohold.auth.secrets import SecretBox
from cargohold.auth.tokens import RegistryTokens
from cargohold.auth.users import UserAdmin
from cargohold.config import Settings, builtin_repositories, declared_repositories
from cargohold.errors import ConfigError, RepositoryExistsError
from cargohold.metadata.base import RepositoryStore
from cargohold.metadata.sql import open_metadata
from cargohold.proxy.absent import AbsentManifests
from cargohold.proxy.fetch import BlobFetcher
from cargohold.proxy.health import HealthBook
from cargohold.proxy.probe import ProxyProbe
from cargohold.proxy.resolver import ProxyResolver, UpstreamPool
from cargohold.proxy.service import PullThroughService
from cargohold.proxy.stats import StatsReader, StatsRecorder
from cargohold.proxy.warm import Warmer
from cargohold.registry.accounting import StorageAccounting
from cargohold.registry.addressing import NameResolver
from cargohold.registry.blobs import BlobService
from cargohold.registry.directory import RepositoryDirectory
from cargohold.registry.eviction import LOCK_FILE, EvictionPolicy, Evictor
from cargohold.registry.fsck import StorageCheck
from cargohold.registry.gc import GarbageCollector, GcPolicy
from cargohold.registry.gc_guard import GuardedContentStore
from cargohold.registry.images import ManifestService
from cargohold.registry.inventory import Inventory
from cargohold.registry.repositories import RepositoryAdmin
from cargohold.registry.space import SpaceGuard
from cargohold.registry.uploads import UploadPolicy, UploadService
from cargohold.running import Listener, run
from cargohold.storage.base import BlobStore, SweepableStore, disk_space
from cargohold.storage.filesystem import FilesystemBlobStore
from cargohold.storage.s3 import S3BlobStore
from cargohold.storage.s3_client import S3Options
from cargohold.storage.s3_sweeping import S3Sweeper
from cargohold.storage.sweeping import FilesystemSweeper
from cargohold.supervisor import supervise
from cargohold.tls.setup import prepare_tls

log = logging.getLogger("cargohold")


async def create_app(settings: Settings, http_metrics: HttpMetrics | None = None) -> web.Application:
    """A ready application: metadata migrated, declared repositories applied, services wired; its request
    metrics go to ``http_metrics`` (which the server's access-log hook observes into), else to new ones."""
    # aiosqlite logs every statement with its parameters at DEBUG, proxy passwords included: never that.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLogger("aiosqlite").level))
    # botocore logs whole requests at DEBUG, a session token among the headers: never that either.
    for name in ("botocore", "aiobotocore"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets = SecretBox.load_or_create(settings.data_dir, _secret(settings.secret_key))
    metadata = await open_metadata(settings.database, schema=settings.database_schema, secrets=secrets)
    try:
        await metadata.repositories.sync_declared_repositories(declared_repositories(settings))
        await _create_builtin(metadata.repositories, settings)
        passwords = Passwords()
        users = UserAdmin(metadata.users, passwords)
        generated = await users.ensure_admin(_secret(settings.admin_password))
    except BaseException:
        await metadata.close()
        raise
    if generated is not None:
        announce(
            f'cargohold: created user "admin" with password {generated} '
            "(shown once; change it with cargohold user passwd)",
            settings.log_format,
        )
    tokens = RegistryTokens.from_secrets(secrets)
    authenticator = Authenticator(metadata.users, passwords, tokens)
    auth = HttpAuth(authenticator, tokens, _token_realm_base(settings))
    local_space = functools.partial(
        disk_space, settings.data_dir
    )  # spools (and, on filesystem, blobs) live here
    try:
        blob_store, sweeper = await open_blob_store(settings)
    except BaseException:
        await metadata.close()
        raise
    content = GuardedContentStore(metadata.content, blob_store)  # links re-checked against collection
    blobs = BlobService(content, blob_store)
    manifests = ManifestService(content, blob_store)
    fetch_dir = settings.data_dir / "fetch"
    collector = GarbageCollector(
        metadata.collector,
        metadata.content,
        sweeper,
        lock_path=settings.data_dir / "gc.lock",
        work_dir=fetch_dir,
        policy=GcPolicy(settings.gc.grace_seconds, settings.gc.upload_max_idle_seconds),
    )
    upstream = settings.upstream
    network_policy = upstream.network_policy()
    pool = UpstreamPool(
        read_timeout=upstream.read_timeout_seconds,
        min_bytes_per_second=upstream.min_bytes_per_second,
        throughput_window=upstream.throughput_window_seconds,
        policy=network_policy,
    )
    health = HealthBook(upstream.backoff_seconds, upstream.max_backoff_seconds)
    absent = AbsentManifests(upstream.negative_ttl_seconds)
    directory = RepositoryDirectory(metadata.repositories)
    evictor = Evictor(
        metadata.repositories,
        metadata.storage,
        metadata.inventory,
        metadata.stats,
        lock_path=settings.data_dir / LOCK_FILE,
        policy=EvictionPolicy(
            max_bytes=int(settings.storage.max_bytes),
            min_free_bytes=int(settings.storage.min_free_bytes),
            low_water=settings.storage.low_water_percent / 100,
        ),
        space=local_space,
        before_run=lambda: _flush_once(stats),
        after_disk_eviction=collector.collect_if_free,
    )
    stats = StatsRecorder(metadata.stats, on_fetched=evictor.nudge)
    room = SpaceGuard(local_space, int(settings.storage.min_free_bytes), make_room=evictor.make_room)
    resolver = ProxyResolver(directory, pool, health, stats)
    pull = PullThroughService(
        content,
        manifests,
        blobs,
        resolver,
        BlobFetcher(blob_store, fetch_dir, close_grace=settings.shutdown_timeout_seconds),
        stats,
        absent,
        room,
    )
    services = OciServices(
        names=NameResolver(directory),
        blobs=blobs,
        uploads=UploadService(
            content,
            blob_store,
            room,
            UploadPolicy(
                max_per_user=settings.uploads.max_sessions_per_user,
                max_per_repository=settings.uploads.max_sessions_per_repository,
                max_idle_seconds=settings.gc.upload_max_idle_seconds,
            ),
        ),
        manifests=manifests,
        pull=pull,
        directory=directory,
    )
    # --- management services (docs/architecture.md): the REST API and the web UI share them -------------

    def proxies_changed(repository_id: int) -> None:
        """A repository or its proxies changed: the next pull reads them afresh and forgets their health
        and which manifests they did not have."""
        directory.invalidate()
        health.forget(repository_id)
        absent.forget(repository_id)

    inventory = Inventory(
        metadata.repositories, content, metadata.inventory, before_read=lambda: _flush_once(stats)
    )
    management = ManagementServices(
        repositories=RepositoryAdmin(metadata.repositories, on_change=proxies_changed, policy=network_policy),
        inventory=inventory,
        probe=ProxyProbe(metadata.repositories, policy=network_policy),
        stats=StatsReader(
            metadata.repositories, metadata.stats, health, before_read=lambda: _flush_once(stats)
        ),
        users=users,
        gc=collector,
        warmer=Warmer(pull, directory),
        storage=StorageAccounting(metadata.repositories, metadata.storage, inventory, local_space),
    )
    # ----------------------------------------------------------------------------------------------------
    # UI sessions are signed with a key derived from the server key: they survive restarts and span workers
    ui_session = SessionConfig(
        secrets.derive("ui-session"), secure=settings.public_url.startswith("https://")
    )
    readiness = Readiness(
        {
            "database": database_check(metadata.database.ping),
            "blob_store": blob_store_check(settings.data_dir / "tmp"),
            "free_space": free_space_check(settings.data_dir, int(settings.storage.min_free_bytes)),
        }
    )
    scrape = MetricsConfig(
        settings.metrics.public, _secret(settings.metrics.token), [GcMetrics(collector.ledger)]
    )
    app = build_web_app(
        services,
        auth,
        management,
        ui_session,
        readiness,
        http_metrics or HttpMetrics(),
        scrape,
        settings.trusted_proxies,
    )

    async def flush_statistics(_: web.Application) -> AsyncIterator[None]:
        flusher = asyncio.create_task(_flush_every(stats, STATS_FLUSH_SECONDS))
        yield
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await _flush_once(stats)

    async def collect_garbage(_: web.Application) -> AsyncIterator[None]:
        interval = settings.gc.interval_seconds
        task = asyncio.create_task(_collect_every(collector, interval)) if interval > 0 else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def evict(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(evictor.serve(settings.storage.eviction_interval_seconds))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(_: web.Application) -> None:
        await authenticator.flush()  # access tokens' last use
        await pull.close()
        await resolver.close()
        await pool.close()
        await metadata.close()
        if isinstance(blob_store, S3BlobStore):
            await blob_store.close()

    app.cleanup_ctx.append(flush_statistics)
    app.cleanup_ctx.append(collect_garbage)
    app.cleanup_ctx.append(evict)
    app.on_cleanup.append(close)
    return app


async def open_blob_store(settings: Settings) -> tuple[BlobStore, SweepableStore]:
    """The blob store ``storage.driver`` names, with its garbage collection view. The S3 driver's bucket is
    checked at once, so a wrong endpoint, bucket or key fails the start with a clear message."""
    if settings.storage.driver == "filesystem":
        local = FilesystemBlobStore(settings.data_dir)
        return local, FilesystemSweeper(local)
    remote = await S3BlobStore.open(s3_options(settings), settings.data_dir)
    try:
        await remote.check()
    except BaseException:
        await remote.close()
        raise
    return remote, S3Sweeper(remote)


def s3_options(settings: Settings) -> S3Options:
    """The S3 driver's options from ``storage.s3`` (ConfigError when the section is missing)."""
    s3 = settings.storage.s3
    if s3 is None:
        raise ConfigError("storage.s3: the S3 driver needs an s3: section with at least a bucket")
    verify: bool | str = str(s3.ca_bundle) if s3.ca_bundle is not None else s3.verify_tls
    return S3Options(
        bucket=s3.bucket,
        endpoint_url=s3.endpoint_url,
        region=s3.region,
        prefix=s3.prefix,
        access_key_id=_secret(s3.access_key_id),
        secret_access_key=_secret(s3.secret_access_key),
        session_token=_secret(s3.session_token),
        credentials_file=s3.credentials_file,
        profile=s3.profile,
        path_style=s3.path_style,
        verify=verify,
        part_size=int(s3.part_size),
        presign_expires_seconds=s3.presign_expires_seconds,
        redirect=settings.storage.redirect,
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _token_realm_base(settings: Settings) -> str:
    """The configured public URL; empty when it was only derived from ``listen`` (which may be 0.0.0.0 or
    a port other than the one clients reach), so that challenges name the host the client came to."""
    return "" if settings.public_url == settings.derived_public_url else settings.public_url


KEEPALIVE_SECONDS = 75.0
"""How long an idle keep-alive connection is held open (a body that stalls is cut off by the /v2 layer)."""

"""Free bytes the blob store's filesystem must keep for /readyz to pass (0: only a full one fails); a hook
for the ``storage.min_free_bytes`` setting another change adds."""

STATS_FLUSH_SECONDS = 2.0
"""How often usage counters and last-pulled times go to the database."""


async def _flush_every(stats: StatsRecorder, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        await _flush_once(stats)


async def _flush_once(stats: StatsRecorder) -> None:
    try:
        await stats.flush()
    except Exception:  # kept for the next flush; a database hiccup must not stop serving
        log.exception("writing usage statistics failed; they are kept for the next attempt")


async def _collect_every(collector: GarbageCollector, seconds: float) -> None:
    """Collect garbage every ``seconds``: every worker tries, the one that gets the lock collects."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await collector.collect_if_free()
        except Exception:  # the next round tries again; a failed collection must not stop serving
            log.exception("garbage collection failed; it runs again in %.0f s", seconds)


def _listener(
    settings: Settings,
    tls: tuple[Path, Path] | None,
    reuse_port: bool,
    http_metrics: HttpMetrics,
) -> Listener:
    return Listener(
        host=settings.host,
        port=settings.port,
        certificate=tls[0] if tls else None,
        key=tls[1] if tls else None,
        reuse_port=reuse_port,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        watch_seconds=settings.tls.watch_seconds,
        access_log_class=observer_class(http_metrics),
        keepalive_timeout=KEEPALIVE_SECONDS,
    )


def _run_worker(
    settings: Settings, tls: tuple[Path, Path] | None, ready: Connection | None, reuse_port: bool
) -> None:
    """One server process; tells ``ready`` (the supervisor) its URL once it accepts connections."""
    configure_logging(settings.log_level, settings.log_format)
    http_metrics = HttpMetrics()

    def listening(url: str) -> None:
        if ready is None:
            _startup_line(settings, url)
        else:
            ready.send(url)

    run(
        lambda: create_app(settings, http_metrics),
        _listener(settings, tls, reuse_port, http_metrics),
        listening,
    )


def _startup_line(settings: Settings, url: str) -> None:
    log.info(
        "cargohold listening on %s (data %s, %d worker%s)",
        url,
        settings.data_dir.resolve(),
        settings.workers,
        "" if settings.workers == 1 else "s",
    )


def serve(settings: Settings) -> None:
    """Run the server until SIGTERM/SIGINT; ConfigError (exit 2) for a TLS certificate it cannot use."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})  # a reload asked for during start-up waits
    configure_logging(settings.log_level, settings.log_format)
    tls = prepare_tls(settings)
    if settings.workers == 1:
        _run_worker(settings, tls, None, reuse_port=False)
        return
    _run_workers(settings, tls)


def _run_workers(settings: Settings, tls: tuple[Path, Path] | None) -> None:
    # Migrations, declared repositories, the key file and the first admin are made once, before the workers
    # race for them (each worker then finds them and prints nothing).
    asyncio.run(_prepare(settings))
    prepare_multiprocess(settings.data_dir / "metrics")  # the workers add up each other's request metrics
    context = multiprocessing.get_context("spawn")
    reader, writer = context.Pipe(duplex=False)

    def new_worker(index: int) -> BaseProcess:
        return context.Process(
            target=_run_worker, args=(settings, tls, writer, True), name=f"cargohold-worker-{index}"
        )

    first: list[str] = []

    def listening(url: object) -> None:
        if not first:  # the first worker that accepts; the others listen on the same port
            first.append(str(url))
            _startup_line(settings, str(url))

    # each worker drains for shutdown_timeout, then its cache downloads get as long again
    code = supervise(
        new_worker,
        settings.workers,
        ready=reader,
        on_ready=listening,
        stop_timeout=2 * settings.shutdown_timeout_seconds + 30,
    )
    if code:
        sys.exit(code)


async def _create_builtin(store: RepositoryStore, settings: Settings) -> None:
    """On a first start whose configuration declares no repositories, create ``hub`` (an ordinary repository:
    the API, CLI and UI manage it, and another repository may take its ``default`` flag)."""
    if await store.list_repositories():
        return
    for repository, proxies in builtin_repositories(settings):
        with contextlib.suppress(RepositoryExistsError):  # another process of this server made it first
            await store.create_repository(repository, proxies)
            log.info("created repository %s (a proxy of Docker Hub)", repository.name)


@contextlib.asynccontextmanager
async def storage_check(settings: Settings) -> AsyncIterator[StorageCheck]:
    """The stores of ``settings`` opened for ``cargohold fsck`` (migrated like a start, nothing else)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets = SecretBox.load_or_create(settings.data_dir, _secret(settings.secret_key))
    metadata = await open_metadata(settings.database, secrets=secrets)
    try:
        blob_store = FilesystemBlobStore(settings.data_dir)
        yield StorageCheck(metadata.collector, metadata.content, FilesystemSweeper(blob_store), blob_store)
    finally:
        await metadata.close()


async def _prepare(settings: Settings) -> None:
    app = await create_app(settings)
    for callback in app.on_cleanup:
        await callback(app)
