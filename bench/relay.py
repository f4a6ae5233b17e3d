"""A bare caching relay: the floor for a cold pull through any pull-through cache on this machine.

It does only what every such cache must do with a cold blob: stream the upstream's bytes to the client while
hashing them and writing them to a cache file, then check the digest, fsync the file and rename it into
place. A cached blob goes out with sendfile. Manifests are passed through uncached. It has no database, no
authentication, no single-flight, no failover, and no bound on how far the disk write may lag behind the
network (the chunks wait in memory). Whatever its cold pull costs over a direct pull is what the page cache,
the copies and the hashing cost here, before any design choice of a real proxy.

With ``--no-cache`` it writes nothing: every blob GET is streamed from the upstream and hashed, so its cold
pull shows what relaying and hashing alone cost, and the difference to the caching relay what writing the
cache file costs.

Run as ``python -m bench.relay --upstream URL (--cache DIR | --no-cache) --port N``; it listens on 127.0.0.1
only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PASSED_HEADERS = ("Content-Type", "Docker-Content-Digest")
_API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}


@dataclass(frozen=True)
class RelaySettings:
    """Where the relay forwards to, and where it caches blobs (None: it caches nothing)."""

    upstream: str
    cache: Path | None


_SETTINGS = web.AppKey("settings", RelaySettings)
_SESSION = web.AppKey("session", aiohttp.ClientSession)
_WRITER = web.AppKey("writer", ThreadPoolExecutor)


async def _base(request: web.Request) -> web.Response:
    return web.Response(headers=_API_VERSION)


async def _manifest(request: web.Request) -> web.Response:
    app = request.app
    headers = {"Accept": request.headers.get("Accept", "*/*")}
    async with app[_SESSION].get(f"{app[_SETTINGS].upstream}{request.path}", headers=headers) as upstream:
        body = await upstream.read()
        passed = {name: upstream.headers[name] for name in _PASSED_HEADERS if name in upstream.headers}
        return web.Response(status=upstream.status, body=body, headers={**_API_VERSION, **passed})


def _write(fd: int, chunk: bytes) -> None:
    os.write(fd, chunk)


def _commit(fd: int, spool: Path, target: Path, good: bool) -> None:
    try:
        if good:
            os.fsync(fd)
    finally:
        os.close(fd)
    if good:
        os.replace(spool, target)
    else:
        spool.unlink(missing_ok=True)


async def _blob(request: web.Request) -> web.StreamResponse:
    digest = request.match_info["digest"]
    if not _DIGEST.fullmatch(digest):
        raise web.HTTPBadRequest(text="only sha256 digests")
    cache = request.app[_SETTINGS].cache
    target = None if cache is None else cache / digest
    if target is not None and target.exists():
        return web.FileResponse(target, headers=_API_VERSION)
    app = request.app
    url = f"{app[_SETTINGS].upstream}{request.path}"
    async with app[_SESSION].get(url, headers={"Accept-Encoding": "identity"}) as upstream:
        if upstream.status != 200:
            return web.Response(status=upstream.status, headers=_API_VERSION)
        response = web.StreamResponse(headers={**_API_VERSION, "Content-Type": "application/octet-stream"})
        response.content_length = upstream.content_length
        await response.prepare(request)
        if not await _relay(request, upstream.content.iter_any(), response, digest, target):
            raise ConnectionAbortedError(f"{digest}: the body does not match")  # aiohttp drops the connection
    await response.write_eof()
    return response


async def _relay(
    request: web.Request,
    body: AsyncIterator[bytes],
    response: web.StreamResponse,
    digest: str,
    target: Path | None,
) -> bool:
    """Copy ``body`` to the client, hashing it and (unless ``target`` is None) writing it to a spool in the
    writer thread; the spool is committed in the background. True when the digest matched."""
    hasher = hashlib.sha256()
    if target is None:
        async for chunk in body:
            hasher.update(chunk)
            await response.write(chunk)
        return f"sha256:{hasher.hexdigest()}" == digest
    loop = asyncio.get_running_loop()
    writer = request.app[_WRITER]
    spool = target.with_name(f"{target.name}.{os.getpid()}.{id(response)}.part")
    fd = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    good = False
    try:
        async for chunk in body:
            hasher.update(chunk)
            loop.run_in_executor(writer, _write, fd, chunk)  # in order: the writer has one thread
            await response.write(chunk)
        good = f"sha256:{hasher.hexdigest()}" == digest
    finally:
        # queued after every write: the spool is kept when the digest matched, removed otherwise
        loop.run_in_executor(writer, _commit, fd, spool, target, good)
    return good


async def _session(app: web.Application) -> AsyncIterator[None]:
    app[_SESSION] = aiohttp.ClientSession(auto_decompress=False)
    app[_WRITER] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-writer")
    yield
    await app[_SESSION].close()
    app[_WRITER].shutdown(wait=True)


def make_app(upstream: str, cache: Path | None) -> web.Application:
    """The relay in front of ``upstream`` (``http://host:port``), caching blobs under ``cache`` (None: not
    at all)."""
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    app = web.Application()
    app[_SETTINGS] = RelaySettings(upstream.rstrip("/"), cache)
    app.cleanup_ctx.append(_session)
    app.router.add_get("/v2/", _base)
    app.router.add_get("/v2/{name:.+}/manifests/{reference}", _manifest)
    app.router.add_get("/v2/{name:.+}/blobs/{digest}", _blob)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.relay``."""
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description="A bare caching relay")
    parser.add_argument("--upstream", required=True, help="the registry to relay, http://HOST:PORT")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--cache", type=Path, help="where cached blobs go")
    where.add_argument("--no-cache", action="store_true", help="cache nothing: stream and hash only")
    parser.add_argument("--port", required=True, type=int, help="port on 127.0.0.1")
    args = parser.parse_args(argv)
    web.run_app(make_app(args.upstream, args.cache), host="127.0.0.1", port=args.port, access_log=None)


if __name__ == "__main__":
    main()
