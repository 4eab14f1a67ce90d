"""python -m testenv up|down|status — the local test environment.

`up` builds what is missing (cached outside the repo), starts every component and is
idempotent; `down` stops them all and leaves no process behind; `status` says what runs.
`up --system multicluster` also starts a system only some profiles need (SYSTEMS);
`down` stops those too. `up --backend kind` starts only the QSIGN demo as real pods on a
kind cluster (testenv/kind_demo.py), without starting or touching the other components.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from testenv import (
    alertmanager,
    apps,
    attestations,
    cluster,
    controlplane,
    coredns,
    dr_drill,
    empty_world,
    external_secrets,
    multicluster,
    platform_services,
    postgres,
    prometheus,
    pushgateway,
    rediscache,
    release,
    search,
    security,
    systems,
    vault,
    velero,
)

# Start order: the sample services' readiness reads PostgreSQL and Vault; Prometheus
# scrapes the services and sends alerts to Alertmanager; the cluster only needs the services' log files.
COMPONENTS = [
    ("postgres", postgres),
    ("vault", vault),
    ("apps", apps),
    ("cluster", cluster),
    ("systems", systems),
    ("redis", rediscache),
    ("coredns", coredns),
    ("controlplane", controlplane),
    ("security", security),
    ("velero", velero),
    ("platform", platform_services),
    ("external-secrets", external_secrets),
    ("dr-drill", dr_drill),
    ("alertmanager", alertmanager),
    ("prometheus", prometheus),
    ("pushgateway", pushgateway),
    ("attestations", attestations),
    ("release", release),
    ("search", search),
]
# Started only on demand (`up --system NAME`): only their own profiles and self-tests need
# them, and they cost memory and CPU (see each module's docstring); `down` always stops them.
SYSTEMS = {"multicluster": multicluster, "empty-world": empty_world}


def up(systems: list[str] | tuple[str, ...] = ()) -> int:
    for name, module in COMPONENTS + [(s, SYSTEMS[s]) for s in systems]:
        start = time.monotonic()
        print(f"testenv: starting {name} ...", flush=True)
        try:
            module.up()
        except Exception as exc:  # report which component failed, in one line
            print(f"testenv: {name} failed to start: {exc}", file=sys.stderr)
            return 1
        print(f"testenv: {name} up ({time.monotonic() - start:.1f}s)", flush=True)
    # Later components (the release's second rollout, the systems) replace pods after the
    # cluster's own wait: up returns once the metrics API serves every Running pod again,
    # so a checklist run right after it reads usage, not "no usage".
    try:
        from testenv import cluster, demo

        demo.wait_metrics(cluster.DEMO.api)
    except Exception as exc:
        print(f"testenv: metrics not served after start: {exc}", file=sys.stderr)
        return 1
    return 0


def down() -> int:
    failed = 0
    for name, module in reversed(COMPONENTS + list(SYSTEMS.items())):
        try:
            module.down()
            print(f"testenv: {name} stopped")
        except Exception as exc:
            print(f"testenv: {name} failed to stop: {exc}", file=sys.stderr)
            failed = 1
    return failed


def status() -> int:
    report = {}
    for name, module in COMPONENTS + list(SYSTEMS.items()):
        try:
            report[name] = module.status()
        except Exception as exc:
            report[name] = {"error": str(exc)}
    json.dump(report, sys.stdout, indent=2, default=str)
    print()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m testenv", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument(
        "--system",
        action="append",
        default=[],
        choices=sorted(SYSTEMS),
        help="with up: also start this system (repeatable)",
    )
    parser.add_argument(
        "--backend",
        choices=("kwok", "kind"),
        default="kwok",
        help="with up: kwok (every component, simulated nodes) or kind (the demo as real pods only)",
    )
    args = parser.parse_args()
    if args.command == "up" and args.backend == "kind":
        if args.system:
            parser.error("--system runs on the kwok backend only")
        from testenv import kind_demo

        try:
            return kind_demo.up()
        except Exception as exc:  # one line naming what failed
            print(f"testenv: kind backend failed: {exc}", file=sys.stderr)
            return 1
    if args.command == "up":
        return up(args.system)
    return {"down": down, "status": status}[args.command]()


if __name__ == "__main__":
    raise SystemExit(main())
