"""The memory of the usage rules at a size the bench cluster's metrics-server cannot serve
whole on this machine (at 50k pods it answered for a few hundred pods): N bench pods and N
pods' metrics, projected and packed as a run holds them, walked by daily.pod-resources'
and daily.top-usage's rules under tracemalloc.

    python -m bench.rules_memory [--pods 50000]

Prints the packed LISTs' size, then per rule the seconds and the peak traced memory over
the packed LISTs (what the rule adds to the run's steady size).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from typing import Any

from bench.populate import _pod_spec, _pod_status
from opscheck.rules.resources import ContainerUsage, container_usage, top_pods
from opscheck.sources.kube import project
from opscheck.sources.packed import PackedList


def _pods_and_metrics(n: int) -> tuple[PackedList, PackedList]:
    def pod(i: int) -> dict[str, Any]:
        obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"svc-{i % 4}-{i:08x}", "namespace": f"bench-{i // 100:04d}", "uid": f"uid-{i}"},
            "spec": {**_pod_spec(), "nodeName": f"bench-node-{i % 455:04d}"},
        }
        obj["status"] = _pod_status(obj, i, restarted=i % 50 == 0)
        return project("pods", obj)

    def metrics(i: int) -> dict[str, Any]:
        # usage spread so that about 1% of the containers are over 70% of their 500m CPU limit
        usage = [
            {"name": c, "usage": {"cpu": f"{(i * 7919 + k) % 355}m", "memory": f"{(i % 200) + 10}Mi"}}
            for k, c in enumerate(("app", "sidecar"))
        ]
        obj = {
            "metadata": {"name": f"svc-{i % 4}-{i:08x}", "namespace": f"bench-{i // 100:04d}"},
            "timestamp": "2026-12-05T00:00:00Z",
            "window": "10s",
            "containers": usage,
        }
        return project("pod-metrics", obj)

    return PackedList.pack(map(pod, range(n))), PackedList.pack(map(metrics, range(n)))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rules_memory")
    parser.add_argument("--pods", type=int, default=50000)
    args = parser.parse_args()
    tracemalloc.start()
    pods, metrics = _pods_and_metrics(args.pods)
    held, _ = tracemalloc.get_traced_memory()
    print(f"{args.pods} pods: packed pods + pod metrics hold {held / 1e6:.1f} MB")
    for name, rule in (
        ("daily.pod-resources container_usage", lambda: container_usage(metrics, pods, 70, 80)),
        ("daily.top-usage top_pods", lambda: top_pods(metrics, pods, 10)),
    ):
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        started = time.monotonic()
        result = rule()
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        size = (
            f"{result.containers} containers, {len(result.rows())} namespace rows, {len(result.offenders)} offenders"
            if isinstance(result, ContainerUsage)
            else f"{len(result)} rows"
        )
        print(f"{name}: {seconds:.1f} s, peak +{(peak - before) / 1e6:.1f} MB ({size})")
        del result
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
