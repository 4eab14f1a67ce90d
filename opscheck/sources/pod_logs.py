"""Counting log lines the way the runbooks grep them, over a time window.

Logs are read through the Kubernetes API (`kubectl logs --since`) with timestamps, so
the window is exact whatever the container's own log format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opscheck.sources.kube import KubeCluster
from opscheck.timeutil import parse_time


@dataclass(frozen=True)
class LogLine:
    pod: str  # namespace/name
    container: str
    time: datetime | None
    text: str


def app_pods(cluster: KubeCluster, namespaces: list[str], label: str, app: str) -> list[dict]:
    return [
        p
        for p in cluster.in_namespaces("pods", namespaces)
        if (p["metadata"].get("labels") or {}).get(label) == app
        and (p.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")
    ]


def read_lines(cluster: KubeCluster, pods: Iterable[dict], window: timedelta) -> list[LogLine]:
    """All log lines of every container of `pods` in the last `window`."""
    since = datetime.now(UTC) - window
    seconds = max(1, int(window.total_seconds()))
    lines: list[LogLine] = []
    for pod in pods:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for container in pod["spec"]["containers"]:
            text = cluster.pod_log(ns, name, container["name"], seconds)
            for raw in text.splitlines():
                ts_token, _, rest = raw.partition(" ")
                ts = parse_time(ts_token)
                if ts is not None and ts < since:
                    continue
                lines.append(LogLine(f"{ns}/{name}", container["name"], ts, rest if ts else raw))
    return lines


class PodLogs:
    """The pods of an app and their log lines, read through one cluster's API."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster

    def app_pods(self, namespaces: list[str], label: str, app: str) -> list[dict]:
        return app_pods(self.cluster, namespaces, label, app)

    def lines(self, pods: Iterable[dict], window: timedelta) -> list[LogLine]:
        return read_lines(self.cluster, pods, window)
