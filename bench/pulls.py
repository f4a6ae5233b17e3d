"""Pulls with real skopeo: one timed ``skopeo copy`` to a ``dir:`` target, and many at once (the herd).

skopeo runs with the private configuration of ``tests.support.clients.ContainerTools`` (no mirrors, no
system policy). The herd check counts, in the upstream's access log, the ``GET …/blobs/sha256:…`` lines
that appeared while the herd ran: one per blob means the proxy coalesced the concurrent cold pulls.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.support.clients import ContainerTools

# Distribution's combined-format access log:
#   127.0.0.1 - - [date] "GET /v2/<name>/blobs/<digest> HTTP/1.1" 200 …
_BLOB_GET = re.compile(
    r'"GET /v2/(?P<name>[^ ?"]+)/blobs/(?P<digest>sha256:[0-9a-f]{64})[^"]*" (?P<status>\d{3})'
)
_SETTLE_S = 0.3
_SETTLE_MAX_S = 5.0


class PullError(RuntimeError):
    """A skopeo command failed or timed out; carries its command line and output."""


def _skopeo_argv(tools: ContainerTools, *args: str) -> list[str]:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise PullError("skopeo is not installed: run ./scripts/test (it apt-installs it)")
    return [skopeo, "--policy", str(tools.policy), "--tmpdir", str(tools.home / "tmp"), *args]


def timed_pull(tools: ContainerTools, docker_ref: str, dest: Path, timeout: float) -> float:
    """``skopeo copy docker_ref dir:dest``; returns wall seconds. ``dest`` is removed afterwards."""
    argv = _skopeo_argv(tools, "copy", "--quiet", "--src-tls-verify=false", docker_ref, f"dir:{dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        result = subprocess.run(
            argv, env=tools.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as error:
        raise PullError(f"skopeo copy {docker_ref}: no result after {timeout:.0f}s") from error
    finally:
        elapsed = time.perf_counter() - started
        shutil.rmtree(dest, ignore_errors=True)
    if result.returncode != 0:
        detail = result.stderr.strip()[-2000:]
        raise PullError(f"skopeo copy {docker_ref} exited {result.returncode}: {detail}")
    return elapsed


def count_blob_gets(log_text: str, name: str) -> Counter[str]:
    """Number of blob GETs of image ``name`` per digest in an access log excerpt."""
    counts: Counter[str] = Counter()
    for match in _BLOB_GET.finditer(log_text):
        if match["name"] == name:
            counts[match["digest"]] += 1
    return counts


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", errors="replace")


def _settled_counts(log_path: Path, offset: int, name: str) -> Counter[str]:
    """The counts once the log has stopped growing (a request is logged just after its last byte)."""
    deadline = time.monotonic() + _SETTLE_MAX_S
    size = log_path.stat().st_size
    while time.monotonic() < deadline:
        time.sleep(_SETTLE_S)
        now = log_path.stat().st_size
        if now == size:
            break
        size = now
    return count_blob_gets(_read_from(log_path, offset), name)


@dataclass(frozen=True)
class HerdResult:
    """What a herd of concurrent cold pulls did: upstream GETs per blob, and how long the herd took."""

    gets_per_blob: dict[str, int]
    seconds: float
    failed: int  # pulls that did not complete (a proxy's own error; its GETs are counted all the same)
    first_failure: str | None


def herd_pull(
    tools: ContainerTools,
    docker_ref: str,
    clients: int,
    workdir: Path,
    upstream_log: Path,
    upstream_name: str,
    blobs: Sequence[str],
    timeout: float,
) -> HerdResult:
    """Run ``clients`` cold pulls of ``docker_ref`` at once; count the upstream's GETs of each blob.

    Pulls that fail are counted, not raised (Distribution's proxy answers some concurrent pulls with 500):
    the upstream's GETs are still what the proxy asked for. PullError only when every pull failed."""
    offset = upstream_log.stat().st_size
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [
            pool.submit(timed_pull, tools, docker_ref, workdir / f"client-{i}", timeout)
            for i in range(clients)
        ]
        errors = [str(f.exception()) for f in futures if f.exception() is not None]
    seconds = time.perf_counter() - started
    if len(errors) == clients:
        raise PullError(f"all {clients} pulls failed; first: {errors[0]}")
    counts = _settled_counts(upstream_log, offset, upstream_name)
    gets = {digest: counts.get(digest, 0) for digest in blobs}
    return HerdResult(gets, seconds, len(errors), errors[0] if errors else None)
