"""SmartSensor's Redis cache (runbook 002: redis-cluster-0): a real redis-server (Debian's
redis-server package) on 127.0.0.1:PORTS["redis"], as a cache would run it: maxmemory
64 MiB with allkeys-lru eviction, no persistence.

Two ACL users, each with a password in a 0600 file under state_dir()/redis/:
  default   the administrator (testenv itself: seeding, faults)
  opscheck  what the suite reads with: PING and INFO only (+ping +info), nothing else,
            as the read-only identities of the cluster and the database
At up() the cache holds a thousand sensor entries that have been read (cache hits) and
sometimes missed, so INFO stats shows a realistic hit rate.

Public API:
    up() / down() / status()
    address() -> (host, port); password_file(user) -> Path
    fault helpers:
        fill_memory(percent) / clear_fill()          used_memory to `percent` of maxmemory
        lookups(hits, misses) / reset_stats()        keyspace hits and misses (hit rate)
        stop_server() / start_server()
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import redis as redis_client

from testenv import procs
from testenv.paths import HOST, PORTS, state_dir, under

PROC = "redis"
MAXMEMORY_BYTES = 64 * 1024 * 1024
SEED_KEYS = 1000
BALLAST_KEY = "opscheck:testenv:ballast"
USERS = ("default", "opscheck")


redis_dir = under(state_dir, "redis")


def password_file(user: str = "opscheck") -> Path:
    if user not in USERS:
        raise ValueError(f"unknown Redis user {user!r}")
    return redis_dir() / f"{user}-password"


def address() -> tuple[str, int]:
    return HOST, PORTS["redis"]


def _password(user: str) -> str:
    path = password_file(user)
    if not path.exists():
        redis_dir().mkdir(parents=True, exist_ok=True)
        procs.write_private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def _config(port: int | None = None, data_dir: Path | None = None) -> str:
    """redis.conf: the test environment's server, or (testenv/empty_world.py) another one
    with the same users on `port`, keeping its data in `data_dir`."""
    admin, reader = _password("default"), _password("opscheck")
    return "\n".join(
        [
            f"bind {HOST}",
            f"port {port or PORTS['redis']}",
            "protected-mode yes",
            "daemonize no",
            'logfile ""',
            f"dir {data_dir or redis_dir() / 'data'}",
            'save ""',
            "appendonly no",
            f"maxmemory {MAXMEMORY_BYTES}",
            "maxmemory-policy allkeys-lru",
            f"user default on >{admin} ~* &* +@all",
            f"user opscheck on >{reader} resetkeys -@all +ping +info",
            "",
        ]
    )


def admin() -> redis_client.Redis:
    host, port = address()
    return redis_client.Redis(
        host=host,
        port=port,
        username="default",
        password=_password("default"),
        socket_timeout=5,
        socket_connect_timeout=2,
    )


def _pong() -> bool:
    try:
        return bool(admin().ping())
    except redis_client.RedisError:
        return False


def start_server() -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (testenv/install-system-packages.sh installs it)")
    (redis_dir() / "data").mkdir(parents=True, exist_ok=True)
    conf = redis_dir() / "redis.conf"
    text = _config()
    if not conf.exists() or conf.read_text() != text:
        procs.write_private(conf, text)
        procs.stop(PROC)  # a changed configuration needs a restart
    procs.start(PROC, [binary, str(conf)])
    procs.wait_started(PROC, _pong, 20, f"redis-server on port {PORTS['redis']}", label="redis-server")


def stop_server() -> None:
    """Fault: Redis down (the process stops; its data, a cache, goes with it)."""
    procs.stop(PROC)
    procs.wait_for(lambda: not _pong(), 15, "redis-server to stop answering")


def up() -> dict[str, Any]:
    start_server()
    clear_fill()
    r = admin()
    if r.dbsize() < SEED_KEYS:
        pipe = r.pipeline(transaction=False)
        for i in range(SEED_KEYS):
            pipe.set(f"sensor:latest:{i:05d}", f'{{"tire_pressure_kpa": {220 + i % 30}, "temp_c": {20 + i % 15}}}')
        pipe.execute()
    stats = r.info("stats")
    if stats["keyspace_hits"] + stats["keyspace_misses"] < 500:
        lookups(hits=950, misses=50)
    return status()


def down() -> None:
    procs.stop(PROC)


def status() -> dict[str, Any]:
    running = procs.is_running(PROC)
    info: dict[str, Any] = {
        "running": running and _pong(),
        "pid": procs.read_pid(PROC),
        "address": "{}:{}".format(*address()),
        "users": list(USERS),
        "log_file": str(procs.log_file(PROC)),
    }
    if info["running"]:
        r = admin()
        mem, stats = r.info("memory"), r.info("stats")
        info.update(
            keys=r.dbsize(),
            used_memory=mem["used_memory"],
            maxmemory=mem["maxmemory"],
            keyspace_hits=stats["keyspace_hits"],
            keyspace_misses=stats["keyspace_misses"],
        )
    return info


# --------------------------------------------------------------------------- fault helpers


def fill_memory(percent: float) -> int:
    """Add ballast values (1 MiB each: one big SET would itself pass maxmemory in the query
    buffer) until used_memory is about `percent` of maxmemory. Returns used_memory."""
    r = admin()
    clear_fill()
    want = int(MAXMEMORY_BYTES * percent / 100)
    chunk = 1024 * 1024
    i = 0
    while (used := r.info("memory")["used_memory"]) < want - chunk // 2:
        r.set(f"{BALLAST_KEY}:{i}", b"x" * min(chunk, want - used))
        i += 1
    return used


def clear_fill() -> None:
    r = admin()
    keys = list(r.scan_iter(match=f"{BALLAST_KEY}:*", count=1000))
    if keys:
        r.delete(*keys)


def lookups(hits: int, misses: int) -> dict[str, int]:
    """Read `hits` cached keys and `misses` absent ones, as the API's cache lookups do."""
    r = admin()
    pipe = r.pipeline(transaction=False)
    for i in range(hits):
        pipe.get(f"sensor:latest:{i % SEED_KEYS:05d}")
    for i in range(misses):
        pipe.get(f"sensor:latest:missing:{i}")
    pipe.execute()
    stats = r.info("stats")
    return {"keyspace_hits": stats["keyspace_hits"], "keyspace_misses": stats["keyspace_misses"]}


def reset_stats() -> None:
    """Repair for a hit-rate fault: CONFIG RESETSTAT (as after a restart), then the
    ordinary traffic's lookups again."""
    admin().config_resetstat()
    lookups(hits=950, misses=50)
