"""The composition root: builds the stores and services from settings and hands them to the HTTP layer.

This is the only module that wires; everything below receives what it needs through its constructor.
On start it loads (or creates) the server key, opens the metadata store with it (proxy passwords are
encrypted at rest) and makes sure an ``admin`` user exists, printing a generated password once to stderr.
``serve`` runs the server in this process, or in ``workers`` processes sharing the port (SO_REUSEPORT), kept
running by ``cargohold.supervisor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import sys
from collections.abc import AsyncIterator
from multiprocessing.process import BaseProcess

from aiohttp import web
from pydantic import SecretStr

from cargohold.api.application import build_web_app
from cargohold.api.auth.setup import HttpAuth
from cargohold.api.management.services import ManagementServices
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
from cargohold.registry.addressing import NameResolver
from cargohold.registry.blobs import BlobService
from cargohold.registry.directory import RepositoryDirectory
from cargohold.registry.gc import GarbageCollector, GcPolicy
from cargohold.registry.gc_guard import GuardedContentStore
from cargohold.registry.images import ManifestService
from cargohold.registry.inventory import Inventory
from cargohold.registry.repositories import RepositoryAdmin
from cargohold.registry.uploads import UploadService
from cargohold.storage.base import BlobStore, SweepableStore
from cargohold.storage.filesystem import FilesystemBlobStore
from cargohold.storage.s3 import S3BlobStore
from cargohold.storage.s3_client import S3Options
from cargohold.storage.s3_sweeping import S3Sweeper
from cargohold.storage.sweeping import FilesystemSweeper
from cargohold.supervisor import supervise

log = logging.getLogger("cargohold")

ACCESS_LOG_FORMAT = '%a "%r" %s %{Content-Length}o upstream=%{Cargohold-Upstream}o %Tfs'
"""The access log gives the body's size and names the proxy a response came through (``-`` for local
content). The size is the Content-Length: aiohttp's own byte count leaves out what went by sendfile."""


async def create_app(settings: Settings) -> web.Application:
    """A ready application: metadata migrated, declared repositories applied, services wired."""
    # aiosqlite logs every statement with its parameters at DEBUG, proxy passwords included: never that.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLogger("aiosqlite").level))
    # botocore logs whole requests at DEBUG, a session token among the headers: never that either.
    for name in ("botocore", "aiobotocore"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets = SecretBox.load_or_create(settings.data_dir, _secret(settings.secret_key))
    metadata = await open_metadata(settings.database, secrets=secrets)
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
        print(
            f'cargohold: created user "admin" with password {generated} '
            "(shown once; change it with cargohold user passwd)",
            file=sys.stderr,
            flush=True,
        )
    tokens = RegistryTokens.from_secrets(secrets)
    authenticator = Authenticator(metadata.users, passwords, tokens)
    auth = HttpAuth(authenticator, tokens, _token_realm_base(settings))
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
    pool = UpstreamPool(
        read_timeout=upstream.read_timeout_seconds,
        min_bytes_per_second=upstream.min_bytes_per_second,
        throughput_window=upstream.throughput_window_seconds,
    )
    health = HealthBook(upstream.backoff_seconds, upstream.max_backoff_seconds)
    absent = AbsentManifests(upstream.negative_ttl_seconds)
    directory = RepositoryDirectory(metadata.repositories)
    stats = StatsRecorder(metadata.stats)
    resolver = ProxyResolver(directory, pool, health, stats)
    pull = PullThroughService(
        content,
        manifests,
        blobs,
        resolver,
        BlobFetcher(blob_store, fetch_dir),
        stats,
        absent,
    )
    services = OciServices(
        names=NameResolver(directory),
        blobs=blobs,
        uploads=UploadService(content, blob_store),
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

    management = ManagementServices(
        repositories=RepositoryAdmin(metadata.repositories, on_change=proxies_changed),
        inventory=Inventory(
            metadata.repositories,
            content,
            metadata.inventory,
            before_read=lambda: _flush_once(stats),
        ),
        probe=ProxyProbe(metadata.repositories),
        stats=StatsReader(
            metadata.repositories, metadata.stats, health, before_read=lambda: _flush_once(stats)
        ),
        users=users,
        gc=collector,
    )
    # ----------------------------------------------------------------------------------------------------
    # UI sessions are signed with a key derived from the server key: they survive restarts and span workers
    ui_session = SessionConfig(
        secrets.derive("ui-session"), secure=settings.public_url.startswith("https://")
    )
    app = build_web_app(services, auth, management, ui_session)

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
    return "" if settings.public_url == f"http://{settings.listen}" else settings.public_url


KEEPALIVE_SECONDS = 75.0
"""How long an idle keep-alive connection is held open (a body that stalls is cut off by the /v2 layer)."""

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


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _run_worker(settings: Settings, reuse_port: bool) -> None:
    configure_logging(settings.log_level)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port or None,
        print=None,
        access_log=logging.getLogger("cargohold.access"),
        access_log_format=ACCESS_LOG_FORMAT,
        keepalive_timeout=KEEPALIVE_SECONDS,
        handle_signals=True,
    )


def serve(settings: Settings) -> None:
    """Run the server until SIGINT/SIGTERM."""
    configure_logging(settings.log_level)
    log.info(
        "cargohold listening on http://%s:%s (data %s, %d worker%s)",
        settings.host,
        settings.port,
        settings.data_dir,
        settings.workers,
        "" if settings.workers == 1 else "s",
    )
    if settings.workers == 1:
        _run_worker(settings, reuse_port=False)
        return
    _run_workers(settings)


def _run_workers(settings: Settings) -> None:
    # Migrations, declared repositories, the key file and the first admin are made once, before the workers
    # race for them (each worker then finds them and prints nothing).
    asyncio.run(_prepare(settings))
    context = multiprocessing.get_context("spawn")

    def new_worker(index: int) -> BaseProcess:
        return context.Process(target=_run_worker, args=(settings, True), name=f"cargohold-worker-{index}")

    code = supervise(new_worker, settings.workers)
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


async def _prepare(settings: Settings) -> None:
    app = await create_app(settings)
    for callback in app.on_cleanup:
        await callback(app)
