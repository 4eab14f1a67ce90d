"""Daily: pods, workloads and nodes (QSIGN 000 §1, SmartSensor 002, Titanium 003, multi-cluster 004)."""

from datetime import UTC, datetime, timedelta

from opscheck.check import check
from opscheck.rules.objects import missing_namespaces
from opscheck.rules.workloads import (
    node_problems,
    oom_killed,
    replica_shortfalls,
    restart_counts,
    unhealthy_pods,
)


def _pods_healthy(cluster, namespaces, evidence, if_none: str, *, problem: str) -> None:
    """The pods in `namespaces` are all healthy; none at all fails, `if_none` saying what that suggests,
    and so does a listed namespace the cluster does not have (its pods would go unseen)."""
    where = ", ".join(namespaces)
    pods = cluster.in_namespaces("pods", namespaces)
    evidence.examined(pods, f"{len(pods)} pods in {where}", empty=f"no pods at all in {where}: {if_none}")
    missing = missing_namespaces(namespaces, cluster.list("namespaces"))
    if missing:
        evidence.fail(f"{len(missing)} namespaces missing in cluster {cluster.name}: {', '.join(missing)}")
    evidence.expect_none(unhealthy_pods(pods), problem)


@check(
    "daily.pods-running",
    severity="critical",
    covers=["000.daily.pods-running", "003.daily.pods-running"],
    also=["postdeploy"],
)
def test_pods_running(cluster, profile, evidence):
    """Every pod in the monitored namespaces is Running (or Completed)

    kubectl describe pod -n <namespace> <pod>      # events: image pull, scheduling, probes
    kubectl logs -n <namespace> <pod> --previous   # why the last container died
    Common causes: image path wrong (ImagePullBackOff), node resources short
    (kubectl describe nodes | grep -A 5 "Allocated resources"), a missing ConfigMap/Secret.
    """
    _pods_healthy(
        cluster, profile.namespaces, evidence, "namespace missing or workloads deleted", problem="pods not Running"
    )


@check("daily.pods-all-namespaces", severity="high", covers=["002.daily.pods-all-namespaces"])
def test_pods_all_namespaces(cluster, evidence):
    """No pod in any namespace outside Running/Completed

    kubectl get pods --all-namespaces | grep -v Running | grep -v Completed
    kubectl describe pod -n <namespace> <pod>; kubectl logs -n <namespace> <pod> --previous
    """
    pods = cluster.list("pods")
    evidence.examined(pods, f"{len(pods)} pods in the cluster")
    evidence.expect_none(unhealthy_pods(pods), "pods not Running or Completed")


@check("daily.pod-states", severity="high", covers=["003.troubleshoot.pod-states"])
def test_pod_states(cluster, profile, evidence):
    """No pod in ImagePullBackOff, CrashLoopBackOff, Pending or OOMKilled; restarts under the threshold

    ImagePullBackOff: check the image tag and registry credentials.
    CrashLoopBackOff: read the logs (kubectl logs --previous), the environment variables and resource limits.
    Pending: not schedulable: node resources short, or a PVC not bound.
    OOMKilled: raise the memory limit or fix the application's memory use.
    """
    pods = cluster.in_namespaces("pods", profile.namespaces)
    evidence.examined(pods, f"{len(pods)} pods in {', '.join(profile.namespaces)}")
    rows = unhealthy_pods(pods) + restart_counts(pods, profile.thresholds.max_restarts)
    evidence.expect_none(rows, "pods in a bad state or restarting")


@check("daily.oomkilled", severity="high", covers=["004.emergency.oomkilled"])
def test_oomkilled(cluster, evidence):
    """No container OOMKilled in the last 24 hours

    kubectl get pods -A | grep OOMKilled
    kubectl describe pod -n <namespace> <pod>   # Last State: Terminated, Reason: OOMKilled
    Raise the container's memory limit (kubectl set resources ... --limits=memory=1Gi) or
    scale out with an HPA; profile the application's memory use.
    """
    since = datetime.now(UTC) - timedelta(hours=24)
    pods = cluster.list("pods")
    evidence.examined(
        pods, f"{len(pods)} pods in the cluster, their containers' last termination since {since:%Y-%m-%d %H:%M} UTC"
    )
    evidence.expect_none(oom_killed(pods, since), "containers OOMKilled in the last 24 h")


@check("daily.kube-system", severity="critical", covers=["004.daily.kube-system"])
def test_kube_system(cluster, profile, evidence):
    """kube-system pods are healthy

    kubectl get pods -n kube-system
    kubectl describe pod -n kube-system <pod>; kubectl logs -n kube-system <pod> --previous
    """
    _pods_healthy(
        cluster, profile.system_namespaces, evidence, "is the namespace list right?", problem="system pods not healthy"
    )


@check("daily.replicas", severity="critical", covers=["000.daily.replicas-min2"], also=["postdeploy"])
def test_replicas(cluster, profile, evidence):
    """Every Deployment and StatefulSet has all desired replicas available, and at least the minimum

    kubectl get deploy,sts -n <namespace>
    kubectl describe deploy -n <namespace> <name>   # why replicas are unavailable
    Scale out: kubectl scale deployment -n <namespace> <name> --replicas=2
    or let an HPA manage it: kubectl autoscale deployment -n <namespace> <name> --cpu-percent=70 --min=2 --max=10
    """
    workloads = cluster.workloads(profile.namespaces)
    minimums = {f"{w.kind}/{w.namespace}/{w.name}": w.min_replicas for w in profile.workloads}
    evidence.examined(workloads, f"{len(workloads)} workloads in {', '.join(profile.namespaces)}")
    evidence.expect_none(
        replica_shortfalls(workloads, minimums, profile.default_min_replicas), "workloads short of replicas"
    )


@check(
    "daily.nodes-ready",
    severity="critical",
    covers=["002.daily.nodes-ready", "004.daily.nodes-all-contexts"],
    availability=True,
)
def test_nodes_ready(cluster, evidence):
    """The cluster answers, and all its nodes are Ready, without pressure conditions

    kubectl get nodes -o wide          (for every context: kubectl --context <ctx> get nodes)
    kubectl describe node <node>   # Conditions, Allocated resources, Events
    NotReady: on the node, systemctl status kubelet; journalctl -u kubelet -f
    Disk pressure: clean images/logs or grow the disk; memory pressure: move or limit workloads.
    Cluster unreachable: check the control-plane machine (multipass list; multipass restart <cluster>-cp),
    then the kubelet and the API server on it:
      multipass exec <cluster>-cp -- sudo systemctl status kubelet
      multipass exec <cluster>-cp -- sudo journalctl -u kubelet -f
    """
    nodes = cluster.list("nodes")
    evidence.examined(nodes, f"{len(nodes)} nodes", empty="the cluster has no nodes")
    evidence.expect_none(node_problems(nodes), "nodes not Ready")
