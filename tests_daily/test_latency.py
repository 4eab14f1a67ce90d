"""Daily: response and signature times (QSIGN 000 §2, from Prometheus histograms)."""

from opscheck.check import check, configured


@check(
    id="daily.api-latency",
    title="Average API response time under the threshold",
    severity="high",
    covers=["000.daily.api-latency-200ms"],
    remediation="""\
kubectl logs -n qsign -l app=api-server | grep "Response time" | tail -50
Bottlenecks: database query time, HSM signing time, Vault key lookups.
Fixes: add database indexes, enable caching, size the connection pool, scale out replicas.""",
)
def test_api_latency(prometheus, profile, evidence):
    cfg = profile.prometheus
    template = configured(
        cfg.api_latency_query, profile.required, "prometheus", "prometheus.api_latency_query is not set in this profile"
    )
    seconds, query = prometheus.scraped_value(template, numbers_only=False, window=cfg.latency_window)
    evidence.note(f"PromQL: {query}")
    evidence.expect_at_most(
        seconds * 1000,
        profile.thresholds.api_latency_ms,
        what=f"average API response time over {cfg.latency_window}",
        unit=" ms",
    )


@check(
    id="daily.signature-latency",
    title="Average signature processing time under the threshold",
    severity="high",
    covers=["000.daily.signature-latency-500ms"],
    remediation="""\
kubectl logs -n qsign -l app=signature-service | grep "Signature completed" | tail -50
Check the HSM's response time (hsm-adapter metrics and logs) and Vault key lookups;
scale the signature-service if the queue grows.""",
)
def test_signature_latency(prometheus, profile, evidence):
    cfg = profile.prometheus
    template = configured(
        cfg.signature_latency_query,
        profile.required,
        "prometheus",
        "prometheus.signature_latency_query is not set in this profile",
    )
    seconds, query = prometheus.scraped_value(template, numbers_only=False, window=cfg.latency_window)
    evidence.note(f"PromQL: {query}")
    evidence.expect_at_most(
        seconds * 1000,
        profile.thresholds.signature_latency_ms,
        what=f"average signature time over {cfg.latency_window}",
        unit=" ms",
    )
