"""Many clusters (issue 13 item 3): opscheck's daily run on three bench clusters together
against each of them alone.

    python -m bench clusters --sizes 2000 [--rounds 2]

Three kwok clusters (bench, bench2, bench3), each grown to the same pods as the
single-cluster bench; then, per round, `pytest -m daily -n 0` on a profile of each cluster
alone and on a profile of the three. The target: the three together take at most 1.2x the
slowest single cluster's wall time. The audit logs say how many requests each cluster
got and how far apart the three clusters' LISTs of one collection started (the read-ahead
of opscheck/sources/kube.py starts a cluster's LIST on the others too).
"""

from __future__ import annotations

import json
import pstats
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench import cluster, populate
from bench.measure import (
    audit_offset,
    audit_requests,
    machine,
    opscheck_cmd,
    outcomes,
    request_summary,
    run_measured,
    write_profile,
)
from testenv.cluster import KwokTarget

TARGET_RATIO = 1.2


def _started(event: dict) -> float:
    return datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()


def list_starts(events: list[dict]) -> dict[str, float]:
    """Collection path -> when its first LIST page was received (epoch seconds)."""
    starts: dict[str, float] = {}
    for e in events:
        if e.get("verb") == "list":
            path = urlsplit(e["requestURI"]).path
            starts[path] = min(starts.get(path, float("inf")), _started(e))
    return starts


def run_once(targets: tuple[KwokTarget, ...], pods: int, home: Path, label: str, reader: str, repo: Path) -> dict:
    """One daily run (-n 0) on a profile of `targets`: wall, peak RSS, requests per cluster."""
    profile = home / f"profile-{label}.yaml"
    write_profile(profile, pods, targets)
    offsets = {t.name: audit_offset(t) for t in targets}
    m = run_measured(opscheck_cmd(profile, 0, home / "reports" / label), cwd=repo)
    time.sleep(1)  # the audit logs' writers are buffered
    events = {t.name: audit_requests(offsets[t.name], reader, t) for t in targets}
    return {
        "clusters": [t.name for t in targets],
        "wall_s": round(m.wall_s, 2),
        "peak_mb": round(m.peak_mb),
        "exit": m.returncode,
        "outcomes": outcomes(home / "reports" / label),
        "requests": {name: len(e) for name, e in events.items()},
        "requests_by_verb": {name: request_summary(e) for name, e in events.items()},
        "list_starts": {name: list_starts(e) for name, e in events.items()},
    }


def start_spread(run: dict) -> dict[str, float]:
    """Collection path -> seconds between the first and the last cluster's first LIST page
    of it (small: the clusters were read concurrently)."""
    starts = run["list_starts"]
    paths = set.intersection(*(set(s) for s in starts.values())) if starts else set()
    return {p: round(max(s[p] for s in starts.values()) - min(s[p] for s in starts.values()), 2) for p in sorted(paths)}


def measure(pods: int, rounds: int, home: Path, reader: str, repo: Path, log: Callable[[str], None]) -> dict:
    targets = tuple(cluster.target(n) for n in cluster.NAMES)
    out: dict = {"pods": pods, "rounds": []}
    for r in range(rounds):
        runs = {}
        for t in targets:
            runs[t.name] = run_once((t,), pods, home, f"{pods}-{t.name}-r{r}", reader, repo)
            log(f"round {r + 1}, {t.name} alone: {runs[t.name]['wall_s']} s, {runs[t.name]['peak_mb']} MB")
        runs["three"] = run_once(targets, pods, home, f"{pods}-three-r{r}", reader, repo)
        slowest = max(runs[t.name]["wall_s"] for t in targets)
        runs["ratio"] = round(runs["three"]["wall_s"] / slowest, 2)
        runs["start_spread_s"] = start_spread(runs["three"])
        log(f"round {r + 1}, three together: {runs['three']['wall_s']} s, ratio {runs['ratio']}")
        out["rounds"].append(runs)
    return out


def profile_three(pods: int, home: Path, repo: Path, results: Path) -> Path:
    """The three-cluster daily run once more under cProfile (its main thread: the reads ahead
    run in threads, so their time shows as the main thread's waits for them)."""
    targets = tuple(cluster.target(n) for n in cluster.NAMES)
    profile = home / f"profile-{pods}-three.yaml"
    write_profile(profile, pods, targets)
    stats = home / f"profile-{pods}-three.prof"
    cmd = opscheck_cmd(profile, 0, home / "reports" / f"{pods}-three-profile")
    cmd[1:1] = ["-m", "cProfile", "-o", str(stats)]
    subprocess.run(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"profile-clusters-{pods // 1000}k.txt"
    with open(out, "w") as f:
        for order in ("cumulative", "tottime"):
            f.write(f"# cProfile of `pytest -m daily -n 0` on three clusters of {pods} pods, top 25 by {order}\n")
            pstats.Stats(str(stats), stream=f).sort_stats(order).print_stats(25)
    return out


def median_ratio(row: dict) -> float:
    """The median three-cluster wall time over the median of each round's slowest single."""
    three = statistics.median(r["three"]["wall_s"] for r in row["rounds"])
    slowest = statistics.median(max(r[n]["wall_s"] for n in cluster.NAMES) for r in row["rounds"])
    return round(three / slowest, 2)


def table(rows: list[dict]) -> str:
    head = "| pods | round | bench alone s / MB / requests | bench2 alone | bench3 alone | three together s / MB | requests per cluster (three) | three / slowest single | largest LIST start spread s |"
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        for i, runs in enumerate(row["rounds"], 1):
            singles = [f"{runs[n]['wall_s']} / {runs[n]['peak_mb']} / {runs[n]['requests'][n]}" for n in cluster.NAMES]
            three = runs["three"]
            per_cluster = ", ".join(str(three["requests"][n]) for n in cluster.NAMES)
            spread = max(runs["start_spread_s"].values(), default=0.0)
            lines.append(
                f"| {row['pods']:,} | {i} | {' | '.join(singles)} | {three['wall_s']} / {three['peak_mb']} "
                f"| {per_cluster} | {runs['ratio']} | {spread} |"
            )
    medians = ", ".join(f"{row['pods']:,} pods: {median_ratio(row)}" for row in rows)
    return "\n".join(lines) + f"\n\nMedian three / median slowest single over the rounds: {medians}"


def run(
    sizes: list[int],
    rounds: int,
    home: Path,
    reader: str,
    repo: Path,
    log: Callable[[str], None],
    profile_results: Path | None = None,
) -> tuple[list[dict], dict[str, str]]:
    """Start the three clusters, grow them size by size, measure; always stop them.
    Returns the rows and the machine."""
    targets = [cluster.target(n) for n in cluster.NAMES]
    rows: list[dict] = []
    try:
        for t in targets:
            log(f"starting bench cluster {t.name}")
            cluster.up(t)
        info = machine()
        for pods in sizes:
            for t in targets:
                log(f"populating {t.name} to {pods} pods")
                populate.populate(pods, log, t)
            time.sleep(25)  # metrics-server scrapes the new nodes and pods (every 10 s)
            rows.append(measure(pods, rounds, home, reader, repo, log))
            (home / "clusters-rows.json").write_text(json.dumps(rows, indent=1))
            if profile_results is not None:
                log(f"cProfile: {profile_three(pods, home, repo, profile_results)}")
    finally:
        for t in targets:
            log(f"stopping bench cluster {t.name}")
            cluster.down(t)
    return rows, info


def write_results(rows: list[dict], info: dict[str, str], results: Path, host: str) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    stem = results / f"{date.today().isoformat()}-{host}-clusters"
    stem.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    text = table(rows)
    print(text)
    machine = "\n".join(f"- {k}: {v}" for k, v in info.items())
    stem.with_suffix(".md").write_text(
        f"# Many clusters: three bench clusters together against each alone ({date.today().isoformat()})\n\n"
        f"`python -m bench clusters` (bench/clusters.py): `pytest -m daily -n 0`, wall s / peak RSS MB / "
        f"API requests; target three / slowest single <= {TARGET_RATIO}. The LIST start spread is the "
        "largest gap, over the collections listed, between the first and the last cluster's first page "
        "of the same collection in the three-cluster run (audit logs).\n\n"
        f"{text}\n\n## Machine\n\n{machine}\n"
    )
    return stem
