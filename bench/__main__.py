"""make bench: opscheck's daily checklist on a growing kwok cluster, beside the floor, the
seeds' kubectl lines and a plain typed-client pytest suite (issue 13).

    python -m bench --sizes "0 2000 10000" [--profile-at 10000]
    python -m bench down          # stop the bench cluster (the run does it at its end)

Run it under `flock /tmp/opscheck-bench.lock` (the Makefile target does): one bench at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from bench import cluster, clusters, populate, report, verify
from bench.measure import (
    audit_offset,
    audit_requests,
    floor,
    listed_paths,
    machine,
    opscheck_cmd,
    outcomes,
    request_summary,
    run_measured,
    write_profile,
)
from opscheck.profile import load_profile

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
READER_USER = "system:serviceaccount:opscheck-system:opscheck"
ADMIN_USER = "kwok-admin"


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def measure_size(pods: int, home: Path, kubectl: str, baseline: bool = True) -> dict:
    row: dict = {"pods": pods}
    profile = home / f"profile-{pods}.yaml"
    namespaces = write_profile(profile, pods)
    live: dict[int, list[dict]] = {}  # workers -> what changes by itself, before and after the run
    for workers in (0, 2):
        report_dir = home / "reports" / f"{pods}-n{workers}"
        live[workers] = [verify.raw_lists(cluster.TARGET, verify.LIVE_KINDS)]
        offset = audit_offset()
        m = run_measured(opscheck_cmd(profile, workers, report_dir), cwd=REPO)
        live[workers].append(verify.raw_lists(cluster.TARGET, verify.LIVE_KINDS))
        time.sleep(1)  # the audit log's writer is buffered
        events = audit_requests(offset, READER_USER)
        row[f"n{workers}"] = {
            "wall_s": round(m.wall_s, 2),
            "peak_mb": round(m.peak_mb),
            "peak_process": m.peak_process,
            "processes": len(m.peaks),
            "requests": len(events),
            "requests_by_verb": request_summary(events),
            "exit": m.returncode,
            "outcomes": outcomes(report_dir),
        }
        if workers == 0:
            paths = listed_paths(events)
            row["kinds"] = paths
        log(f"{pods} pods, opscheck -n {workers}: {row[f'n{workers}']}")
        if m.returncode not in (0, 1):
            log(m.output[-3000:])
    raw: dict[str, list[dict]] = {}
    seconds, pages, objects = floor(row["kinds"], keep=raw)
    row["floor"] = {"wall_s": round(seconds, 2), "lists": len(row["kinds"]), "pages": pages, "objects": objects}
    log(f"{pods} pods, floor: {row['floor']}")
    row["correct"] = check_counts(profile, raw, live, home / "reports", pods)
    del raw, live
    log(f"{pods} pods, counts against the raw LISTs: {row['correct']}")
    row["kubectl"] = run_kubectl(kubectl)
    log(f"{pods} pods, kubectl lines: {row['kubectl']['wall_s']} s")
    row["baseline"] = run_baseline(namespaces) if baseline else None
    log(f"{pods} pods, typed-client baseline: {row['baseline']}")
    return row


def run_baseline(namespaces: list[str]) -> dict:
    """The plain typed-client pytest suite (bench/baseline/) on the same cluster."""
    env = {
        **os.environ,
        "BENCH_KUBECONFIG": str(cluster.TARGET.kubeconfig()),
        "BENCH_NAMESPACES": ",".join(namespaces),
    }
    baseline = BENCH / "baseline"
    m = run_measured(
        [sys.executable, "-m", "pytest", "-c", str(baseline / "pytest.ini"), "-p", "no:opscheck", "-q", str(baseline)],
        cwd=baseline,
        env=env,
    )
    return {"wall_s": round(m.wall_s, 2), "peak_mb": round(m.peak_mb), "exit": m.returncode}


def check_counts(
    profile_path: Path, raw_by_path: dict[str, list[dict]], live: dict[int, list[dict]], reports: Path, pods: int
) -> dict:
    """Each run's reported counts (its results.json) against the floor's raw LISTs, with what
    changes by itself (`live`) as listed right before and after that run."""
    raw = verify.by_kind(raw_by_path)
    profile = load_profile(profile_path)
    out = {}
    for workers in (0, 2):
        results = sorted((reports / f"{pods}-n{workers}").rglob("results.json"))[-1]
        snapshots = [raw | around for around in live[workers]]
        compared, wrong = verify.verify(results, snapshots, profile, cluster.NAME)
        out[f"n{workers}"] = {"compared": compared, "mismatches": wrong}
    return out


def kubectl_lines() -> list[tuple[str, str]]:
    out = []
    for line in (BENCH / "kubectl_lines.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            command, _, seed = line.partition("\t#\t")
            out.append((command.strip(), seed.strip()))
    return out


def run_kubectl(kubectl: str) -> dict:
    """The seeds' lines one after the other, as an operator's daily script runs them."""
    env = {**os.environ, "KUBECONFIG": str(cluster.TARGET.kubeconfig())}
    env["PATH"] = f"{Path(kubectl).parent}{os.pathsep}{env['PATH']}"
    script = "\n".join(f"{c} > /dev/null 2>&1" for c, _ in kubectl_lines())
    m = run_measured([script], cwd=REPO, env=env, shell=True)
    return {"wall_s": round(m.wall_s, 2), "lines": len(kubectl_lines())}


def profile_run(pods: int, home: Path) -> Path:
    """The opscheck daily run (-n 0) once more under cProfile: the top 25 cumulative entries."""
    profile = home / f"profile-{pods}.yaml"
    write_profile(profile, pods)
    stats = home / f"profile-{pods}.prof"
    cmd = opscheck_cmd(profile, 0, home / "reports" / f"{pods}-profile")
    cmd[1:1] = ["-m", "cProfile", "-o", str(stats)]
    subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return write_profile_top(stats, pods)


def write_profile_top(stats: Path, pods: int) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{pods // 1000}k.txt"
    with open(out, "w") as f:
        f.write(f"# cProfile of `pytest -m daily -n 0` at {pods} pods (bench/__main__.py), top 25 cumulative\n")
        pstats.Stats(str(stats), stream=f).sort_stats("cumulative").print_stats(25)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("action", nargs="?", default="run", choices=["run", "clusters", "down", "report"])
    parser.add_argument("--sizes", default="0 2000 10000 30000 50000")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the typed-client baseline (minutes at 10k pods)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="clusters: measurement rounds per size")
    parser.add_argument("--profile-at", type=int, default=10000, help="pods at which to cProfile the run (0: never)")
    parser.add_argument(
        "--keep-cluster",
        action="store_true",
        help="reuse a running bench cluster (sizes below its pods are skipped) and leave it running",
    )
    args = parser.parse_args()
    home = cluster.use_bench_home()
    if args.action == "down":
        for name in cluster.NAMES:
            cluster.down(cluster.target(name))
        return 0
    if args.action == "report":  # again from the last run's numbers (<bench home>/rows.json)
        saved = json.loads((home / "rows.json").read_text())
        for prof in home.glob("profile-*.prof"):
            write_profile_top(prof, int(prof.stem.split("-")[1]))
        write_results(saved["rows"], saved["machine"])
        return 0
    sizes = sorted(int(s) for s in args.sizes.split())
    # a SIGTERM (make interrupted, a timeout) still stops the clusters
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.action == "clusters":
        profile_results = RESULTS if args.profile_at else None
        rows, info = clusters.run(sizes, args.rounds, home, READER_USER, REPO, log, profile_results)
        log(f"wrote {clusters.write_results(rows, info, RESULTS, socket.gethostname())}.md, .json")
        return 0
    kubectl = subprocess.run(
        [str(BENCH / "build-kubectl.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    rows, populate_s = [], {}
    try:
        if args.keep_cluster:
            log("reusing the running bench cluster" if cluster.up_or_reuse() else "started the bench cluster")
        else:
            log("starting the bench cluster")
            cluster.up()
        info = machine()
        for pods in sizes:
            log(f"populating to {pods} pods")
            populate_s[pods] = round(populate.populate(pods, log), 1)
            time.sleep(25)  # metrics-server scrapes the new nodes and pods (every 10 s)
            rows.append(measure_size(pods, home, kubectl, baseline=not args.no_baseline))
            rows[-1]["populate_s"] = populate_s[pods]
            # kept as it goes: an interrupted run still leaves its numbers
            (home / "rows.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
            if pods == args.profile_at:
                log(f"cProfile: {profile_run(pods, home)}")
    finally:
        if not args.keep_cluster:
            log("stopping the bench cluster")
            cluster.down()
    write_results(rows, info)
    return 0


def write_results(rows: list[dict], info: dict[str, str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"{date.today().isoformat()}-{socket.gethostname()}"
    (stem.with_suffix(".json")).write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    table = report.table(rows)
    print(table)
    report.write_markdown(stem.with_suffix(".md"), table, rows, info)
    report.plot(rows, stem.with_suffix(".png"))
    log(f"wrote {stem}.md, .json, .png")


if __name__ == "__main__":
    sys.exit(main())
