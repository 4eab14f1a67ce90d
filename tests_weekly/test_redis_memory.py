"""Weekly: the cache's memory and hit rate (SmartSensor 002 캐시 최적화: redis-cli INFO
memory, INFO stats)."""
from opscheck.check import check
from opscheck.sources.redis import hit_rate, memory_use, mib


@check(
    id="weekly.redis-memory",
    title="Redis memory under the maxmemory threshold, and the cache hit rate above its floor",
    severity="medium",
    covers=["002.perf.redis-memory"],
    remediation="""\
kubectl exec -n hankook-smartsensor redis-cluster-0 -- redis-cli INFO memory
kubectl exec -n hankook-smartsensor redis-cluster-0 -- redis-cli --bigkeys
kubectl exec -n hankook-smartsensor redis-cluster-0 -- redis-cli INFO stats | grep keyspace
Memory near maxmemory: find the big keys (--bigkeys), set TTLs on cache entries, check the
eviction policy (maxmemory-policy allkeys-lru for a cache), or raise maxmemory with the pod's limit.
No maxmemory: set one below the container's memory limit, or Redis grows until it is OOMKilled.
Low hit rate: the API reads keys it never caches, or the TTLs are too short: review the cache keys.""",
)
def test_redis_memory(redis_reader, profile, evidence):
    cfg = profile.redis
    mem = memory_use(redis_reader.info("memory"))
    rate, lookups = hit_rate(redis_reader.info("stats"))
    evidence.table([{"object": redis_reader.where.removeprefix("Redis at "), "used_memory": mib(mem.used),
                     "maxmemory": mib(mem.maxmemory) if mem.maxmemory else "0 (unbounded)",
                     "memory %": round(mem.percent, 1) if mem.percent is not None else "",
                     "maxmemory_policy": mem.policy, "lookups": lookups,
                     "hit_rate %": round(rate * 100, 1) if rate is not None else ""}])
    problems = []
    if mem.percent is None:
        problems.append(f"maxmemory is not set: the cache is unbounded ({mib(mem.used)} used)")
    elif mem.percent > cfg.max_memory_percent:
        problems.append(f"used_memory {mib(mem.used)} is {mem.percent:.1f}% of maxmemory {mib(mem.maxmemory)}, "
                        f"over {cfg.max_memory_percent:g}%")
    if rate is None or lookups < cfg.min_lookups:
        evidence.note(f"{lookups} lookups since the last restart or CONFIG RESETSTAT: under {cfg.min_lookups}, "
                      "the hit rate is not judged")
    elif rate < cfg.min_hit_rate:
        problems.append(f"cache hit rate {rate * 100:.1f}% ({lookups} lookups) is under {cfg.min_hit_rate * 100:g}%")
    evidence.record(measured=round(mem.percent, 1) if mem.percent is not None else "unbounded",
                    threshold=cfg.max_memory_percent, unit="%")
    if problems:
        evidence.fail(f"Redis {redis_reader.where.removeprefix('Redis at ')}: {'; '.join(problems)}")
