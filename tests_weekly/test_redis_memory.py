"""Weekly: the cache's memory and hit rate (SmartSensor 002 캐시 최적화: redis-cli INFO
memory, INFO stats)."""

from opscheck.check import check
from opscheck.rules.cache import cache_problems, cache_row, hit_rate, memory_percent


@check("weekly.redis-memory", severity="medium", covers=["002.perf.redis-memory"])
def test_redis_memory(redis_reader, profile, evidence):
    """Redis memory under the maxmemory threshold, and the cache hit rate above its floor

    kubectl exec -n hankook-smartsensor redis-cluster-0 -- redis-cli INFO memory
    kubectl exec -n hankook-smartsensor redis-cluster-0 -- redis-cli --bigkeys
    kubectl exec -n hankook-smartsensor redis-cluster-0 -- redis-cli INFO stats | grep keyspace
    Memory near maxmemory: find the big keys (--bigkeys), set TTLs on cache entries, check the
    eviction policy (maxmemory-policy allkeys-lru for a cache), or raise maxmemory with the pod's limit.
    No maxmemory: set one below the container's memory limit, or Redis grows until it is OOMKilled.
    Low hit rate: the API reads keys it never caches, or the TTLs are too short: review the cache keys.
    """
    cfg = profile.redis
    mem = redis_reader.memory()
    rate, lookups = hit_rate(*redis_reader.lookups())
    evidence.table([cache_row(redis_reader.address, mem, rate, lookups)])
    problems = cache_problems(mem, rate, lookups, cfg)
    percent = memory_percent(mem)
    evidence.record(
        measured=round(percent, 1) if percent is not None else "unbounded", threshold=cfg.max_memory_percent, unit="%"
    )
    if problems:
        evidence.fail(f"Redis {redis_reader.address}: {'; '.join(problems)}")
