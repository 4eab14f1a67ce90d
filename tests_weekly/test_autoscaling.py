"""Weekly: HPAs work (Titanium 003 HPA 동작 확인; monthly for QSIGN 000's HPA metric review)."""

from opscheck.check import check, component_absent
from opscheck.rules.availability import hpa_offenders, hpa_row
from opscheck.rules.objects import without


@check(
    "weekly.hpa-behaviour",
    severity="medium",
    covers=["003.weekly.hpa-behaviour", "000.monthly.hpa-review"],
    also=["monthly"],
)
def test_hpa_behaviour(cluster, profile, evidence):
    """Every HPA computes its metrics, can scale, and is not pinned at maxReplicas

    kubectl get hpa -n <namespace>; kubectl get hpa -n <namespace> <hpa> -o yaml   # conditions, currentMetrics
    ScalingActive False: the metrics are missing: is metrics-server up (kubectl top pods -n <namespace>)? Do the
    target's containers set resource requests? A Pods/External metric needs a custom-metrics adapter (prometheus-adapter).
    Pinned at maxReplicas: the load outgrew the bounds: raise maxReplicas (kubectl edit hpa -n <namespace> <hpa>),
    check node capacity, and look for the cause of the load (runbook: kubectl top pods --sort-by=cpu).
    AbleToScale False: the target (scaleTargetRef) is missing or its scale subresource refuses.
    """
    cfg = profile.platform.autoscaling
    namespaces = cfg.namespaces if cfg.namespaces is not None else profile.namespaces
    hpas = without(cluster.in_namespaces("horizontalpodautoscalers", namespaces), cfg.ignore)
    if not hpas:
        component_absent(profile.required, "hpa", f"no HorizontalPodAutoscaler in {', '.join(namespaces)}")
    evidence.table(hpa_row(h) for h in hpas)
    evidence.expect_none(hpa_offenders(hpas), "HPAs not working", table=False)
