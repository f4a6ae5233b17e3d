"""Garbage collection under load: ``python -m bench.gc [--quick] [--json FILE] [--keep]``.

The store is made synthetic, as issue 12 allows: ``cargohold serve`` migrates an empty database, is stopped,
and the benchmark writes straight into its SQLite database and blob directory ``--manifests`` image
manifests (each a manifest file, a tag and ``--layers`` layer references) and as many unreferenced blob files
as it takes to reach ``--blobs`` files in all, every file older than the collector's grace period. One real
image is pushed through the API as the hot content clients keep pulling.

Then, with the server running again, it measures the latency of cached manifest GETs and of 1 MiB blob
GETs, each at a fixed rate (``--manifest-rate``, ``--blob-rate``: an open loop, so the load is the same with
and without collection and no latency hides behind a client waiting for the previous answer), for
``--seconds`` without collection, and again while ``POST /api/v1/gc`` runs, until it returns. Reported:
the collection's wall time, what it removed, and p50/p99 latency of both request kinds without and during
collection; the target is a p99 during collection within 20% of the one without. It checks that exactly
the unreferenced files went and every referenced file stayed, and exits 1 when that or any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, insert, select
from tests.support.server import ADMIN, ADMIN_PASSWORD, CargoholdServer, start_cargohold

from cargohold.metadata.schema import manifest_references, manifests, repositories, tags

REPOSITORY = "bench"
HOT_IMAGE = "hot/app"
OLD_SECONDS = 2 * 86400  # synthetic files' age: well past the grace period
GRACE_SECONDS = 3600
P99_TARGET = 1.20


@dataclass
class Latencies:
    """Seconds each successful request took, and how many failed."""

    seconds: list[float] = field(default_factory=list)
    failures: int = 0

    def percentile(self, share: float) -> float:
        """The ``share`` quantile in milliseconds (0 when nothing was measured)."""
        if not self.seconds:
            return 0.0
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    def summary(self) -> dict[str, float]:
        return {
            "requests": len(self.seconds),
            "failures": self.failures,
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "mean_ms": round(statistics.fmean(self.seconds) * 1000, 2) if self.seconds else 0.0,
        }


def _random_blob(blob_dir: Path, size: int) -> str:
    """Write a file of ``size`` random bytes under its digest; return ``sha256:<hex>``."""
    data = os.urandom(size)
    hex_digest = hashlib.sha256(data).hexdigest()
    target = blob_dir / "sha256" / hex_digest[:2] / hex_digest
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    old = time.time() - OLD_SECONDS
    os.utime(target, (old, old))
    return f"sha256:{hex_digest}"


@dataclass
class Store:
    """What the synthetic store holds: referenced files (must stay) and unreferenced ones (must go)."""

    referenced: set[str]
    unreferenced: set[str]


def _chunks(items: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def build_store(data_dir: Path, *, total_blobs: int, manifest_count: int, layers: int) -> Store:
    """Write the synthetic manifests, references, tags and files into a stopped server's store."""
    blob_dir = data_dir / "blobs"
    engine = create_engine(f"sqlite:///{data_dir / 'cargohold.db'}")
    now = datetime.now(UTC)
    referenced: set[str] = set()
    manifest_rows, reference_rows, tag_rows = [], [], []
    with engine.begin() as connection:
        repository_id = connection.scalar(select(repositories.c.id).where(repositories.c.name == REPOSITORY))
        for number in range(manifest_count):
            image = f"synthetic/image-{number % 500}"
            digest = _random_blob(blob_dir, 512)
            referenced.add(digest)
            manifest_rows.append(
                {
                    "repository_id": repository_id, "image": image, "digest": digest,
                    "media_type": "application/vnd.oci.image.manifest.v1+json", "size": 512,
                    "source": "proxy", "proxy_name": "upstream", "created_at": now,
                }
            )  # fmt: skip
            tag_rows.append(
                {
                    "repository_id": repository_id, "image": image, "tag": f"v{number}", "digest": digest,
                    "source": "proxy", "proxy_name": "upstream", "updated_at": now,
                }
            )  # fmt: skip
            for _ in range(layers):
                layer = _random_blob(blob_dir, 256)
                referenced.add(layer)
                reference_rows.append(
                    {
                        "repository_id": repository_id, "image": image, "manifest_digest": digest,
                        "kind": "blob", "child_digest": layer,
                    }
                )  # fmt: skip
        written = ((manifests, manifest_rows), (manifest_references, reference_rows), (tags, tag_rows))
        for table, rows in written:
            for chunk in _chunks(rows):
                connection.execute(insert(table), chunk)
    engine.dispose()
    unreferenced = {_random_blob(blob_dir, 256) for _ in range(max(0, total_blobs - len(referenced)))}
    return Store(referenced, unreferenced)


def _auth() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()}


async def push_hot_image(server: CargoholdServer, layer_size: int) -> tuple[str, str]:
    """Push one image (a config and one layer) through /v2; returns (manifest path, layer blob path)."""
    base = f"{server.url}/v2/{REPOSITORY}/{HOT_IMAGE}"
    async with aiohttp.ClientSession(headers=_auth()) as session:

        async def put_blob(data: bytes) -> str:
            digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
            async with session.post(f"{base}/blobs/uploads/", params={"digest": digest}, data=data) as answer:
                if answer.status != 201:
                    raise RuntimeError(f"blob push answered {answer.status}: {await answer.text()}")
            return digest

        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
        config_digest = await put_blob(config)
        layer_digest = await put_blob(os.urandom(layer_size))
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        }  # fmt: skip
        headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        async with session.put(f"{base}/manifests/1.0", data=json.dumps(manifest), headers=headers) as answer:
            if answer.status != 201:
                raise RuntimeError(f"manifest push answered {answer.status}: {await answer.text()}")
    return f"{base}/manifests/1.0", f"{base}/blobs/{layer_digest}"


async def _load(url: str, headers: dict[str, str], rate: float, until: asyncio.Event) -> Latencies:
    """GET ``url`` ``rate`` times a second (an open loop: a slow answer does not delay the next request)
    until ``until`` is set; each latency counts from the moment its request was due."""
    found = Latencies()
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def one(due: float) -> None:
            try:
                async with session.get(url, headers=headers) as answer:
                    await answer.read()
                    ok = answer.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                found.seconds.append(time.perf_counter() - due)
            else:
                found.failures += 1

        running: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        sent = 0
        while not until.is_set():
            due = start + sent / rate
            delay = due - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), delay)  # pacing the open loop
                continue
            task = asyncio.create_task(one(due))
            running.add(task)
            task.add_done_callback(running.discard)
            sent += 1
        if running:
            await asyncio.gather(*running)
    return found


MANIFEST_ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


async def measure(
    server: CargoholdServer, manifest_url: str, blob_url: str, *, rates: tuple[float, float], seconds: float
) -> dict[str, Any]:
    """Latencies without collection for ``seconds``, then during one collection."""
    stop = asyncio.Event()
    loads = [
        asyncio.create_task(_load(manifest_url, MANIFEST_ACCEPT, rates[0], stop)),
        asyncio.create_task(_load(blob_url, {}, rates[1], stop)),
    ]
    await asyncio.sleep(seconds)  # a timed measuring window, not synchronisation
    stop.set()
    idle_manifest, idle_blob = await asyncio.gather(*loads)

    stop = asyncio.Event()
    loads = [
        asyncio.create_task(_load(manifest_url, MANIFEST_ACCEPT, rates[0], stop)),
        asyncio.create_task(_load(blob_url, {}, rates[1], stop)),
    ]
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=3600)
    async with (
        aiohttp.ClientSession(timeout=timeout, headers=_auth()) as session,
        session.post(f"{server.url}/api/v1/gc", json={"dry_run": False}) as answer,
    ):
        report = await answer.json()
        status = answer.status
    gc_seconds = time.perf_counter() - started
    stop.set()
    gc_manifest, gc_blob = await asyncio.gather(*loads)
    return {
        "gc": {"status": status, "seconds": round(gc_seconds, 2), "report": _report_summary(report)},
        "manifest": {"idle": idle_manifest.summary(), "during_gc": gc_manifest.summary()},
        "blob": {"idle": idle_blob.summary(), "during_gc": gc_blob.summary()},
    }


def _report_summary(report: dict[str, Any]) -> dict[str, Any]:
    removed = report.get("removed", [])
    kinds: dict[str, int] = {}
    for item in removed:
        kinds[item.get("kind", "?")] = kinds.get(item.get("kind", "?"), 0) + 1
    return {"removed": kinds, "bytes_freed": report.get("bytes_freed")}


def remaining(data_dir: Path) -> set[str]:
    """The digests of every blob file left."""
    return {f"sha256:{path.name}" for path in (data_dir / "blobs" / "sha256").glob("*/*")}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.gc", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 blobs and 1,000 manifests, 3 s windows")
    parser.add_argument("--blobs", type=int, default=100_000, help="blob files in all (default 100,000)")
    parser.add_argument("--manifests", type=int, default=10_000, help="image manifests (default 10,000)")
    parser.add_argument("--layers", type=int, default=5, help="layers per manifest (default 5)")
    parser.add_argument("--manifest-rate", type=float, default=100.0, help="manifest GETs/s (default 100)")
    parser.add_argument("--blob-rate", type=float, default=25.0, help="1 MiB blob GETs/s (default 25)")
    parser.add_argument("--seconds", type=float, default=15.0, help="window without GC (default 15)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"store: {result['store']['files']} blob files ({result['store']['referenced']} referenced), "
        f"{result['store']['manifests']} manifests",
        f"garbage collection: {result['gc']['seconds']} s, removed {result['gc']['report']['removed']}",
        "",
        f"{'request':<10}{'phase':<12}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}",
    ]
    for kind in ("manifest", "blob"):
        for phase in ("idle", "during_gc"):
            row = result[kind][phase]
            lines.append(
                f"{kind:<10}{phase:<12}{row['requests']:>10}{row['p50_ms']:>10}{row['p99_ms']:>10}"
                f"{row['failures']:>8}"
            )
        ratio = result[kind]["p99_ratio"]
        verdict = "PASS" if ratio <= P99_TARGET else "FAIL"
        lines.append(f"{'':<10}p99 during GC / idle: {ratio:.2f} (target <= {P99_TARGET:.2f}) {verdict}")
    lines.append(f"files check: {result['files_check']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the GC benchmark; exit 1 when a request failed or the collection removed the wrong files."""
    args = _parser().parse_args(argv)
    if args.quick:
        args.blobs, args.manifests, args.seconds = 10_000, 1_000, 3.0
    workdir = Path(tempfile.mkdtemp(prefix="cargohold-bench-gc-"))
    config: dict[str, Any] = {"gc": {"interval_seconds": 0, "grace_seconds": GRACE_SECONDS}}
    repos = [{"name": REPOSITORY, "visibility": "public", "proxies": []}]
    try:
        server = start_cargohold(workdir, repos, name="cargohold", extra_config=config)
        server.stop()
        _say(f"writing {args.manifests} manifests and {args.blobs} blob files in all")
        started = time.perf_counter()
        store = build_store(
            server.data_dir, total_blobs=args.blobs, manifest_count=args.manifests, layers=args.layers
        )
        _say(f"  synthetic store written in {time.perf_counter() - started:.1f} s")
        server = start_cargohold(workdir, repos, name="cargohold", extra_config=config)
        try:
            manifest_url, blob_url = asyncio.run(push_hot_image(server, 1024 * 1024))
            rates = (args.manifest_rate, args.blob_rate)
            _say(f"measuring for {args.seconds:.0f} s without collection, then during one")
            result = asyncio.run(measure(server, manifest_url, blob_url, rates=rates, seconds=args.seconds))
        finally:
            server.stop()
        left = remaining(server.data_dir)
        lost = store.referenced - left
        kept = store.unreferenced & left
        result["files_check"] = (
            "ok: every unreferenced file removed, every referenced file kept"
            if not lost and not kept
            else f"WRONG: {len(lost)} referenced files lost, {len(kept)} unreferenced files kept"
        )
        result["store"] = {
            "files": len(store.referenced) + len(store.unreferenced),
            "referenced": len(store.referenced),
            "manifests": args.manifests,
        }
        for kind in ("manifest", "blob"):
            idle, during = result[kind]["idle"]["p99_ms"], result[kind]["during_gc"]["p99_ms"]
            result[kind]["p99_ratio"] = round(during / idle, 3) if idle else 0.0
        print(_table(result), flush=True)
        if args.json is not None:
            args.json.write_text(json.dumps({"arguments": asdict_args(args), **result}, indent=2) + "\n")
        failures = sum(result[k][p]["failures"] for k in ("manifest", "blob") for p in ("idle", "during_gc"))
        return 0 if not lost and not kept and not failures and result["gc"]["status"] == 200 else 1
    finally:
        if args.keep:
            _say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def asdict_args(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments, JSON-ready."""
    return {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}


if __name__ == "__main__":
    raise SystemExit(main())
