"""The measuring phases of a run, in order: pulls, cached manifests, the big blob, the herd of cold pulls,
start-up (``bench.startup``: fresh processes of each proxy, apart from the running ones).

Each phase measures every running server one after the other (never two at once, so they do not compete
for the CPU) and writes into that server's ``Figures``. A failure is recorded in ``Figures.errors`` under
the phase's name and the run goes on, so one broken server never hides the others' figures.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.clients import ContainerTools

from bench import startup as startup_phase
from bench.content import MANIFEST_ACCEPT, Content
from bench.cpu import tree_cpu_seconds
from bench.load import LoadError, curl_read, fetch_status, request_rate
from bench.memory import RssSampler, vm_hwm_bytes
from bench.plan import MIB, Plan
from bench.pulls import herd_pull, timed_pull
from bench.report import MB, Figures
from bench.servers import CARGOHOLD, DIRECT, DISTRIBUTION, LABELS, PROXY_KEYS, REGISTRY_KEYS, Server


@dataclass
class Run:
    """What every phase needs: the plan, the pushed content, the servers and where to write."""

    plan: Plan
    content: Content
    servers: dict[str, Server]
    results: dict[str, Figures]
    tools: ContainerTools
    workdir: Path
    upstream_log: Path
    client: str


def registries(run: Run) -> Iterator[tuple[str, Server]]:
    """The running registries measured beyond pulls (not the relays)."""
    for key in REGISTRY_KEYS:
        if key in run.servers:
            yield key, run.servers[key]


def say(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def recording(figures: Figures, phase: str) -> Iterator[None]:
    """Record any failure of the block as ``figures.errors[phase]`` instead of raising it."""
    try:
        yield
    except Exception as error:  # a benchmark reports what broke and measures the rest
        figures.errors[phase] = f"{type(error).__name__}: {error}"
        say(f"  ! {phase}: {figures.errors[phase][:300]}")


def pulls(run: Run) -> None:
    """Each image: a cold then a warm ``skopeo copy`` through every server (who goes first rotates)."""
    say("pulls")
    target = run.workdir / "pulled"
    keys = list(run.servers)
    for index, image in enumerate(run.content.pulls):
        turn = index % len(keys)
        for key in keys[turn:] + keys[:turn]:
            server = run.servers[key]
            figures = run.results[key]
            if "pull" in figures.errors:
                continue
            with recording(figures, "pull"):
                ref = server.docker_ref(image.name, image.tag)
                cpu_before = tree_cpu_seconds(server.pid)
                cold = timed_pull(run.tools, ref, target / f"{key}-cold", run.plan.command_timeout_s)
                figures.cold_pull_cpu_samples.append(tree_cpu_seconds(server.pid) - cpu_before)
                warm = timed_pull(run.tools, ref, target / f"{key}-warm", run.plan.command_timeout_s)
                figures.cold_pull_samples.append(cold)
                figures.warm_pull_samples.append(warm)
                say(f"  {image.name} {server.label}: cold {cold:.2f} s, warm {warm:.2f} s")


def _require_ok(url: str, headers: dict[str, str] | None = None) -> None:
    status = asyncio.run(fetch_status(url, headers))
    if status != 200:
        raise LoadError(f"GET {url}: HTTP {status}")


def manifests(run: Run) -> None:
    """Requests per second for a cached manifest, by tag and by digest."""
    say(f"cached manifests ({run.client}, {run.plan.manifest_concurrency} concurrent)")
    image = run.content.pulls[0]
    headers = {"Accept": MANIFEST_ACCEPT}
    for key, server in registries(run):
        figures = run.results[key]
        for kind, reference in (("tag", image.tag), ("digest", image.digest)):
            with recording(figures, f"manifest by {kind}"):
                url = server.manifest_url(image.name, reference)
                _require_ok(url, headers)
                rate = request_rate(
                    url, headers, run.plan.manifest_concurrency, run.plan.manifest_seconds, run.client
                )
                setattr(figures, f"manifest_{kind}_rps", rate.per_second)
                say(f"  {server.label} by {kind}: {rate.per_second:,.0f} req/s")


def big_blob(run: Run) -> None:
    """Fill the cache with the big blob, then time reads of it, sampling the server's memory throughout."""
    say("big blob")
    big, content = run.content.big, run.content
    timeout = run.plan.command_timeout_s
    for key, server in registries(run):
        figures = run.results[key]
        with recording(figures, "big blob"):
            _require_ok(server.manifest_url(big.name, big.tag), {"Accept": MANIFEST_ACCEPT})
            url = server.blob_url(big.name, content.big_blob)
            with RssSampler(server.pid) as sampler:
                first = curl_read(url, content.big_size, timeout)
                figures.blob_cold_mib_s = first.mib_per_s
                for _ in range(run.plan.blob_reads):
                    figures.blob_samples.append(curl_read(url, content.big_size, timeout).mib_per_s)
            figures.peak_rss_mb = sampler.peak_bytes / MB
            figures.lifetime_peak_rss_mb = vm_hwm_bytes(server.pid) / MB
            reads = ", ".join(f"{s:.0f}" for s in figures.blob_samples)
            say(f"  {server.label}: first {first.mib_per_s:.0f} MiB/s, cached {reads} MiB/s, "
                f"peak RSS {figures.peak_rss_mb:.0f} MB")  # fmt: skip


def herd(run: Run) -> None:
    """Many concurrent cold pulls through each proxy; upstream GETs per blob.

    Two rounds, each of its own image, in ABBA order (cargohold, Distribution, Distribution, cargohold): the
    machine is not in the same state for whoever goes first (the herd's clients write hundreds of MiB into
    memory the previous herd may just have freed), and this order gives each proxy the same share."""
    say(f"herd ({run.plan.herd_clients} concurrent cold pulls, two rounds)")
    keys = [key for key in PROXY_KEYS if key in run.servers]
    rounds = [(key, run.content.herds[0]) for key in keys] + [
        (key, run.content.herds[1]) for key in reversed(keys)
    ]
    for key, image in rounds:
        server = run.servers[key]
        figures = run.results[key]
        if "herd" in figures.errors:
            continue
        with recording(figures, "herd"):
            result = herd_pull(
                run.tools, server.docker_ref(image.name, image.tag), run.plan.herd_clients,
                run.workdir / "herd" / key, run.upstream_log, image.name, image.blobs,
                run.plan.command_timeout_s,
            )  # fmt: skip
            figures.upstream_gets_per_blob = {
                **(figures.upstream_gets_per_blob or {}),
                **result.gets_per_blob,
            }
            figures.herd_samples.append(result.seconds)
            figures.herd_failed_pulls = (figures.herd_failed_pulls or 0) + result.failed
            counts = sorted(result.gets_per_blob.values())
            failed = f"{result.failed} pulls failed"
            say(f"  {image.name} {server.label}: {counts} GETs per blob, {result.seconds:.1f} s, {failed}")
            if result.first_failure is not None:
                say(f"    first failure: {result.first_failure[:300]}")


def startup(run: Run) -> None:
    """Each proxy started anew, in a directory of its own: the first start, then restarts, one at a time."""
    say(f"start-up (a first start and {run.plan.startup_restarts} restarts each)")
    upstream_url = run.servers[DIRECT].base_url
    starters = {
        CARGOHOLD: startup_phase.start_cargohold(upstream_url),
        DISTRIBUTION: startup_phase.start_distribution_proxy(upstream_url),
    }
    for key, starter in starters.items():
        figures = run.results[key]
        with recording(figures, "startup"):
            measured = startup_phase.measure(
                starter, run.workdir / "startup" / key, run.plan.startup_restarts
            )
            figures.startup_first_s = measured.first.seconds
            figures.startup_first_hwm_mib = measured.first.hwm_bytes / MIB
            figures.startup_restart_s = measured.restart_s
            figures.startup_restart_cpu_s = measured.restart_cpu_s
            figures.startup_restart_hwm_mib = measured.restart_hwm_bytes / MIB
            say(f"  {LABELS[key]}: {startup_phase.describe(measured)}")


PHASES = (pulls, manifests, big_blob, herd, startup)
