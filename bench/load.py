"""HTTP load: blob reads with curl (bytes discarded) and manifest requests per second.

Blob reads use ``curl -o /dev/null`` so the client costs little CPU and holds nothing; curl reports the
bytes and the time. Manifest load is a fixed number of concurrent keep-alive clients hammering one URL for
a fixed time, either with ``wrk`` when it is installed (``--client wrk``/``auto``) or with an aiohttp
client in this process (``--client aiohttp``); a short untimed warm-up comes first. Only 200 answers count.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

import aiohttp

from bench.plan import MIB


class LoadError(RuntimeError):
    """A load command failed, or the server answered something other than 200."""


@dataclass(frozen=True)
class BlobRead:
    """One blob GET: bytes received and seconds taken."""

    size: int
    seconds: float

    @property
    def mib_per_s(self) -> float:
        """Throughput in MiB/s."""
        return self.size / MIB / self.seconds


def curl_read(url: str, expected_size: int, timeout: float) -> BlobRead:
    """GET ``url`` with curl, discarding the body; checks the status and the size."""
    curl = shutil.which("curl")
    if curl is None:
        raise LoadError("curl is not installed")
    argv = [
        curl, "--silent", "--show-error", "--fail", "--output", "/dev/null", "--max-time", str(int(timeout)),
        "--write-out", "%{http_code} %{size_download} %{time_total}", url,
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise LoadError(f"curl {url} exited {result.returncode}: {result.stderr.strip()} {result.stdout}")
    status, size, seconds = result.stdout.split()
    if status != "200" or int(size) != expected_size:
        raise LoadError(f"curl {url}: HTTP {status}, {size} bytes (expected 200, {expected_size} bytes)")
    return BlobRead(int(size), float(seconds))


@dataclass(frozen=True)
class Rate:
    """Requests per second over a timed window, and how many answers were not 200."""

    per_second: float
    requests: int
    failures: int
    client: str


async def _aiohttp_rate(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> Rate:
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        counts = {"ok": 0, "bad": 0}
        stop_at = 0.0

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    counts["ok" if response.status == 200 else "bad"] += 1

        async def window(duration: float) -> tuple[int, int, float]:
            nonlocal stop_at
            counts.update(ok=0, bad=0)
            started = time.perf_counter()
            stop_at = started + duration
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return counts["ok"], counts["bad"], time.perf_counter() - started

        await window(min(1.0, seconds / 5))  # warm-up: connections, caches
        ok, bad, elapsed = await window(seconds)
    return Rate(ok / elapsed, ok + bad, bad, "aiohttp")


def _wrk_rate(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> Rate:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed")
    header_args = [arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")]

    def run(duration: float) -> str:
        argv = [
            wrk, "--threads", "2", "--connections", str(concurrency),
            "--duration", f"{max(1, round(duration))}s", *header_args, url,
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0:
            raise LoadError(f"wrk {url} exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    run(1)  # warm-up
    out = run(seconds)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?(\d+) read, (\d+) write, (\d+) timeout", out)
    if rate is None or total is None:
        raise LoadError(f"wrk output not understood:\n{out}")
    failures = int(non_2xx[1]) if non_2xx else 0
    failures += sum(int(n) for n in errors.groups()) if errors else 0
    requests = int(total[1])
    ok_share = (requests - failures) / requests if requests else 0.0
    return Rate(float(rate[1]) * ok_share, requests, failures, "wrk")


def choose_client(requested: str) -> str:
    """``aiohttp`` or ``wrk``: ``auto`` picks wrk when it is installed."""
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "aiohttp"
    return requested


def request_rate(url: str, headers: dict[str, str], concurrency: int, seconds: float, client: str) -> Rate:
    """Cached-manifest requests per second against ``url`` with ``client`` (``aiohttp`` or ``wrk``)."""
    if client == "wrk":
        rate = _wrk_rate(url, headers, concurrency, seconds)
    else:
        rate = asyncio.run(_aiohttp_rate(url, headers, concurrency, seconds))
    if rate.failures:
        raise LoadError(f"{rate.failures} of {rate.requests} requests to {url} did not answer 200")
    return rate


async def fetch_status(url: str, headers: dict[str, str] | None = None) -> int:
    """One GET (body read and discarded); returns the status."""
    timeout = aiohttp.ClientTimeout(total=600)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, headers=headers or {}) as response,
    ):
        async for _ in response.content.iter_chunked(MIB):
            pass
        return response.status
