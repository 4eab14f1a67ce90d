"""Daily: the cache answers (SmartSensor 002 일일 점검: redis-cli ping)."""

from opscheck.check import check


@check("daily.redis-ping", severity="critical", covers=["002.daily.redis-ping"], availability=True)
def test_redis_ping(redis_reader, evidence):
    """Redis answers PING with PONG

    kubectl exec -n hankook-smartsensor redis-cluster-0 -- redis-cli ping
    kubectl get pods -n hankook-smartsensor -l app=redis; kubectl logs -n hankook-smartsensor redis-cluster-0 --previous
    No PONG: the pod is down or restarting (OOMKilled at its memory limit?), the Service has no endpoint,
    or the password/ACL changed: check the redis Secret the API and opscheck use.
    """
    ms = redis_reader.ping()
    evidence.table([{"object": redis_reader.address, "answer": "PONG", "ms": round(ms, 1)}])
    evidence.record(measured="PONG", threshold="PONG")
