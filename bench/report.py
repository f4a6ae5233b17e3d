"""The results of a run: figures per server, the issue's targets judged PASS/FAIL, the table and the JSON.

``Figures`` holds what was measured for one server (``None`` where a measurement failed, with the reason in
``errors``). ``judge`` compares them with the targets of issue 3; the verdicts are printed, never asserted.
``render_table`` is the text the command prints; ``to_json`` is what ``--json FILE`` writes.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.plan import MIB, Plan
from bench.servers import CARGOHOLD, DIRECT, DISTRIBUTION, LABELS, PROXY_KEYS, RELAY_KEYS, SERVER_KEYS

RSS_LIMIT_MB = 150.0
STARTUP_LIMIT_S = 2.0
STARTUP_HWM_LIMIT_MIB = 100.0
COLD_PULL_SLACK = 0.10
MB = 1_000_000

# figures every server must have; proxies must also have ``upstream_gets_per_blob``
COMMON_FIGURES = (
    "cold_pull_s",
    "warm_pull_s",
    "blob_mib_s",
    "manifest_tag_rps",
    "manifest_digest_rps",
    "peak_rss_mb",
)
PROXY_FIGURES = (
    *COMMON_FIGURES, "upstream_gets_per_blob", "startup_first_s", "startup_first_hwm_mib",
    "startup_restart_s", "startup_restart_hwm_mib",
)  # fmt: skip
RELAY_FIGURES = ("cold_pull_s", "warm_pull_s")  # the relays only pull


@dataclass
class Figures:
    """What was measured for one server; samples are kept for the JSON."""

    cold_pull_samples: list[float] = field(default_factory=list)
    cold_pull_cpu_samples: list[float] = field(default_factory=list)  # server CPU seconds in each cold pull
    warm_pull_samples: list[float] = field(default_factory=list)
    blob_cold_mib_s: float | None = None
    blob_samples: list[float] = field(default_factory=list)
    manifest_tag_rps: float | None = None
    manifest_digest_rps: float | None = None
    upstream_gets_per_blob: dict[str, int] | None = None  # over both herd rounds (each its own image)
    herd_samples: list[float] = field(default_factory=list)  # wall time of each herd round
    herd_failed_pulls: int | None = None
    peak_rss_mb: float | None = None
    lifetime_peak_rss_mb: float | None = None
    startup_first_s: float | None = None  # start on an empty directory to the first answered request
    startup_first_hwm_mib: float | None = None  # VmHWM then
    startup_restart_s: float | None = None  # median over the restarts on the same directory
    startup_restart_cpu_s: float | None = None  # median CPU seconds of a restart until its first answer
    startup_restart_hwm_mib: float | None = None  # highest VmHWM at a restart's first answer
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def cold_pull_s(self) -> float | None:
        """Median first pull through a fresh cache (for the upstream: median first direct pull)."""
        return statistics.median(self.cold_pull_samples) if self.cold_pull_samples else None

    @property
    def cold_pull_cpu_s(self) -> float | None:
        """Median CPU time the server (with its children) used during a cold pull."""
        return statistics.median(self.cold_pull_cpu_samples) if self.cold_pull_cpu_samples else None

    @property
    def warm_pull_s(self) -> float | None:
        """Median second pull."""
        return statistics.median(self.warm_pull_samples) if self.warm_pull_samples else None

    @property
    def herd_s(self) -> float | None:
        """Mean wall time of the herd rounds."""
        return statistics.mean(self.herd_samples) if self.herd_samples else None

    @property
    def blob_mib_s(self) -> float | None:
        """Median throughput of the timed reads of the cached big blob."""
        return statistics.median(self.blob_samples) if self.blob_samples else None

    def as_json(self) -> dict[str, Any]:
        """Fields plus the derived medians."""
        out = asdict(self)
        out.update(
            cold_pull_s=self.cold_pull_s,
            cold_pull_cpu_s=self.cold_pull_cpu_s,
            warm_pull_s=self.warm_pull_s,
            blob_mib_s=self.blob_mib_s,
            herd_s=self.herd_s,
        )
        return out


@dataclass(frozen=True)
class Verdict:
    """One target judged for one server."""

    target: str
    server: str
    passed: bool | None  # None: could not be judged (a figure is missing)
    detail: str


def direct_pull_reference(results: Mapping[str, Figures]) -> float | None:
    """The direct pull time proxies are compared with: median of every direct pull (first and second)."""
    direct = results.get(DIRECT)
    samples = (direct.cold_pull_samples + direct.warm_pull_samples) if direct else []
    return statistics.median(samples) if samples else None


def _throughput_verdict(results: Mapping[str, Figures]) -> Verdict:
    target = "cached blob throughput >= Distribution's"
    ours, theirs = results[CARGOHOLD].blob_mib_s, results[DISTRIBUTION].blob_mib_s
    if ours is None or theirs is None:
        return Verdict(target, CARGOHOLD, None, "not measured")
    return Verdict(target, CARGOHOLD, ours >= theirs, f"{ours:.0f} vs {theirs:.0f} MiB/s")


def _cold_verdict(key: str, figures: Figures, reference: float | None) -> Verdict:
    target = "cold pull within 10% of a direct pull"
    cold = figures.cold_pull_s
    if cold is None or reference is None:
        return Verdict(target, key, None, "not measured")
    excess = cold / reference - 1
    return Verdict(target, key, excess <= COLD_PULL_SLACK, f"{excess:+.0%} ({cold:.2f} vs {reference:.2f} s)")


def _single_flight_verdict(key: str, figures: Figures) -> Verdict:
    target = "exactly one upstream GET per blob"
    counts = figures.upstream_gets_per_blob
    if not counts:
        return Verdict(target, key, None, "not measured")
    values = counts.values()
    detail = f"{min(values)}-{max(values)} per blob"
    failed = figures.herd_failed_pulls or 0
    if failed:
        detail += f", {failed} pulls failed"
    return Verdict(target, key, all(v == 1 for v in values) and not failed, detail)


def _rss_verdict(key: str, figures: Figures) -> Verdict:
    target = f"peak RSS < {RSS_LIMIT_MB:.0f} MB"
    rss = figures.peak_rss_mb
    if rss is None:
        return Verdict(target, key, None, "not measured")
    return Verdict(target, key, rss < RSS_LIMIT_MB, f"{rss:.0f} MB")


def _startup_verdicts(key: str, figures: Figures) -> list[Verdict]:
    time_target = f"restart to first answer < {STARTUP_LIMIT_S:.0f} s"
    hwm_target = f"VmHWM at a restart's first answer < {STARTUP_HWM_LIMIT_MIB:.0f} MiB"
    seconds, hwm = figures.startup_restart_s, figures.startup_restart_hwm_mib
    return [
        Verdict(time_target, key, None, "not measured")
        if seconds is None
        else Verdict(time_target, key, seconds < STARTUP_LIMIT_S, f"{seconds:.2f} s"),
        Verdict(hwm_target, key, None, "not measured")
        if hwm is None
        else Verdict(hwm_target, key, hwm < STARTUP_HWM_LIMIT_MIB, f"{hwm:.0f} MiB"),
    ]


def judge(results: Mapping[str, Figures]) -> list[Verdict]:
    """The issue's targets for cargohold; for context, the same targets applied to Distribution's proxy, and
    the cold-pull target to the two relays (whether this machine lets any caching relay meet it, and whether
    streaming and hashing alone would)."""
    reference = direct_pull_reference(results)
    verdicts = [_throughput_verdict(results)]
    for key in PROXY_KEYS:
        figures = results[key]
        verdicts += [
            _cold_verdict(key, figures, reference),
            _single_flight_verdict(key, figures),
            _rss_verdict(key, figures),
            *_startup_verdicts(key, figures),
        ]
    verdicts += [_cold_verdict(key, results[key], reference) for key in RELAY_KEYS]
    return verdicts


def missing_figures(results: Mapping[str, Figures]) -> dict[str, list[str]]:
    """Per server, the figures that were not measured (the smoke test wants this empty)."""
    missing: dict[str, list[str]] = {}
    for key in SERVER_KEYS:
        figures = results[key].as_json()
        wanted = (
            PROXY_FIGURES if key in PROXY_KEYS else RELAY_FIGURES if key in RELAY_KEYS else COMMON_FIGURES
        )
        absent = [name for name in wanted if figures.get(name) in (None, {})]
        if absent:
            missing[key] = absent
    return missing


# --- rendering ------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f}"


def _int(value: int | None) -> str:
    return "-" if value is None else str(value)


def _gets(counts: dict[str, int] | None) -> str:
    if not counts:
        return "-"
    low, high = min(counts.values()), max(counts.values())
    spread = str(low) if low == high else f"{low}-{high}"
    return f"{spread} ({len(counts)} blobs, {sum(counts.values())} GETs)"


def _rows(plan: Plan, results: Mapping[str, Figures]) -> list[tuple[str, list[str]]]:
    size = plan.pull_image_bytes / MIB
    blob = plan.blob_size / MIB
    herd = plan.herd_clients
    return [
        (f"cold pull, {size:.0f} MiB image, {len(plan.pull_layer_sizes)} layers (s)",
         [_num(results[k].cold_pull_s, 2) for k in SERVER_KEYS]),
        ("server CPU during that cold pull (ms)", [_ms(results[k].cold_pull_cpu_s) for k in SERVER_KEYS]),
        ("warm pull, same image (s)", [_num(results[k].warm_pull_s, 2) for k in SERVER_KEYS]),
        (f"cached blob read, {blob:.0f} MiB (MiB/s)", [_num(results[k].blob_mib_s) for k in SERVER_KEYS]),
        ("first blob read, filling the cache (MiB/s)",
         [_num(results[k].blob_cold_mib_s) for k in SERVER_KEYS]),
        ("cached manifest by tag (req/s)", [_num(results[k].manifest_tag_rps) for k in SERVER_KEYS]),
        ("cached manifest by digest (req/s)", [_num(results[k].manifest_digest_rps) for k in SERVER_KEYS]),
        (f"upstream GETs per blob, {herd} concurrent cold pulls",
         [_gets(results[k].upstream_gets_per_blob) for k in SERVER_KEYS]),
        (f"{herd} concurrent cold pulls, wall time, mean of 2 rounds (s)",
         [_num(results[k].herd_s, 2) for k in SERVER_KEYS]),
        (f"{herd} concurrent cold pulls, failed pulls",
         [_int(results[k].herd_failed_pulls) for k in SERVER_KEYS]),
        ("peak RSS serving the big blob (MB)", [_num(results[k].peak_rss_mb) for k in SERVER_KEYS]),
        ("lifetime peak RSS, VmHWM (MB)", [_num(results[k].lifetime_peak_rss_mb) for k in SERVER_KEYS]),
        ("first start to first answer, empty directory (s)",
         [_num(results[k].startup_first_s, 2) for k in SERVER_KEYS]),
        ("VmHWM at that first answer (MiB)", [_num(results[k].startup_first_hwm_mib) for k in SERVER_KEYS]),
        (f"restart to first answer, median of {plan.startup_restarts} (s)",
         [_num(results[k].startup_restart_s, 2) for k in SERVER_KEYS]),
        ("server CPU of that restart (s)", [_num(results[k].startup_restart_cpu_s, 2) for k in SERVER_KEYS]),
        ("VmHWM at a restart's first answer (MiB)",
         [_num(results[k].startup_restart_hwm_mib) for k in SERVER_KEYS]),
    ]  # fmt: skip


def _shorten(text: str, limit: int = 400) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[: limit // 2]} … {flat[-limit // 2 :]}"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))

    lines = [line(row) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def render_table(plan: Plan, results: Mapping[str, Figures], verdicts: Sequence[Verdict], notes: str) -> str:
    """The printed report: figures per server, then each target with PASS/FAIL, then any errors."""
    lines = [f"cargohold benchmark ({plan.name} plan; {notes})", ""]
    header = ["", *(LABELS[k] for k in SERVER_KEYS)]
    lines += _grid(header, [[name, *cells] for name, cells in _rows(plan, results)])
    lines += ["", "targets (issue 3)", ""]
    word = {True: "PASS", False: "FAIL", None: "n/a"}
    target_rows = [[v.target, LABELS[v.server], f"{word[v.passed]}  {v.detail}"] for v in verdicts]
    lines += _grid(["target", "server", "result"], target_rows)
    errors = [(k, what, why) for k in SERVER_KEYS for what, why in results[k].errors.items()]
    if errors:
        lines += ["", "errors"]
        lines += [f"  {LABELS[k]} / {what}: {_shorten(why)}" for k, what, why in errors]
    return "\n".join(lines)


def to_json(
    plan: Plan, results: Mapping[str, Figures], verdicts: Sequence[Verdict], environment: dict[str, Any]
) -> dict[str, Any]:
    """The ``--json`` document."""
    return {
        "plan": asdict(plan),
        "environment": environment,
        "direct_pull_reference_s": direct_pull_reference(results),
        "servers": {k: results[k].as_json() for k in SERVER_KEYS},
        "targets": [asdict(v) for v in verdicts],
        "missing": missing_figures(results),
    }
