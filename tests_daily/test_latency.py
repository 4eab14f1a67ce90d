"""Daily: response and signature times (QSIGN 000 §2, from Prometheus histograms)."""

from opscheck.check import check, configured


def _average_ms(prometheus, profile, evidence, setting: str, limit_ms: float, what: str) -> None:
    """The average time the query `prometheus.<setting>` measures over the latency window is at most `limit_ms`."""
    cfg = profile.prometheus
    template = configured(
        getattr(cfg, setting), profile.required, "prometheus", f"prometheus.{setting} is not set in this profile"
    )
    seconds, query = prometheus.scraped_value(template, numbers_only=False, window=cfg.latency_window)
    evidence.note(f"PromQL: {query}")
    evidence.expect_at_most(seconds * 1000, limit_ms, what=f"{what} over {cfg.latency_window}", unit=" ms")


@check("daily.api-latency", severity="high", covers=["000.daily.api-latency-200ms"])
def test_api_latency(prometheus, profile, evidence):
    """Average API response time under the threshold

    kubectl logs -n qsign -l app=api-server | grep "Response time" | tail -50
    Bottlenecks: database query time, HSM signing time, Vault key lookups.
    Fixes: add database indexes, enable caching, size the connection pool, scale out replicas.
    """
    _average_ms(
        prometheus,
        profile,
        evidence,
        "api_latency_query",
        profile.thresholds.api_latency_ms,
        "average API response time",
    )


@check("daily.signature-latency", severity="high", covers=["000.daily.signature-latency-500ms"])
def test_signature_latency(prometheus, profile, evidence):
    """Average signature processing time under the threshold

    kubectl logs -n qsign -l app=signature-service | grep "Signature completed" | tail -50
    Check the HSM's response time (hsm-adapter metrics and logs) and Vault key lookups;
    scale the signature-service if the queue grows.
    """
    _average_ms(
        prometheus,
        profile,
        evidence,
        "signature_latency_query",
        profile.thresholds.signature_latency_ms,
        "average signature time",
    )
