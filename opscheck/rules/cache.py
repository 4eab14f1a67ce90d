"""Judging the cache (Redis): memory against maxmemory, and the hit rate (SmartSensor 002
캐시 최적화: redis-cli INFO memory, INFO stats)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opscheck.profile import RedisConfig

if TYPE_CHECKING:
    from opscheck.sources.redis import MemoryUse


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def memory_percent(mem: MemoryUse) -> float | None:
    """used_memory as a share of maxmemory; None without a maxmemory (unbounded)."""
    return mem.used / mem.maxmemory * 100 if mem.maxmemory else None


def hit_rate(hits: int, misses: int) -> tuple[float | None, int]:
    """(keyspace_hits / lookups, lookups)."""
    lookups = hits + misses
    return (hits / lookups if lookups else None), lookups


def cache_row(address: str, mem: MemoryUse, rate: float | None, lookups: int) -> dict[str, Any]:
    percent = memory_percent(mem)
    return {
        "object": address,
        "used_memory": mib(mem.used),
        "maxmemory": mib(mem.maxmemory) if mem.maxmemory else "0 (unbounded)",
        "memory %": round(percent, 1) if percent is not None else "",
        "maxmemory_policy": mem.policy,
        "lookups": lookups,
        "hit_rate %": round(rate * 100, 1) if rate is not None else "",
    }


def cache_problems(mem: MemoryUse, rate: float | None, lookups: int, cfg: RedisConfig) -> list[str]:
    """What is wrong with the cache; too few lookups to judge the hit rate is one of them."""
    problems = []
    percent = memory_percent(mem)
    if percent is None:
        problems.append(f"maxmemory is not set: the cache is unbounded ({mib(mem.used)} used)")
    elif percent > cfg.max_memory_percent:
        problems.append(
            f"used_memory {mib(mem.used)} is {percent:.1f}% of maxmemory {mib(mem.maxmemory)}, "
            f"over {cfg.max_memory_percent:g}%"
        )
    if rate is None or lookups < cfg.min_lookups:
        problems.append(
            f"{lookups} lookups since the last restart or CONFIG RESETSTAT, under {cfg.min_lookups}: "
            "the hit rate cannot be judged"
        )
    elif rate < cfg.min_hit_rate:
        problems.append(f"cache hit rate {rate * 100:.1f}% ({lookups} lookups) is under {cfg.min_hit_rate * 100:g}%")
    return problems
