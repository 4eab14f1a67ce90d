"""SmartSensor's log store (runbook 002: elasticsearch-0 in namespace monitoring, daily
`logstash-YYYY.MM.DD` and `hankook-smartsensor-YYYY.MM.DD` indices): a real OpenSearch
node speaking the Elasticsearch REST API on 127.0.0.1:PORTS["opensearch"].

No tarball can be downloaded here, so up() assembles the server from Maven Central
(org.opensearch:opensearch, its plugin class loader, log4j-core, and the HTTP/transport
module org.opensearch.plugin:transport-netty4-client) with Debian's maven, into
cache_dir()/opensearch-<VERSION>/ laid out as a distribution (lib/, modules/, bin/,
plugins/), once (about 30 s cold). It runs on Debian's OpenJDK as the system user
OS_USER (OpenSearch refuses root), single-node, loopback only, heap 256 MiB, no security
plugin (so no authentication: the profile's username/password are not exercised here).

Old indices, for real: OpenSearch sets an index's creation date when it creates it and
refuses `index.creation_date` in a create request (a private setting: "unknown
setting"). Two faults are therefore produced the way they happen in production:
  - an index named for a day more than 30 days ago (what the runbook's weekly
    `curl -X DELETE logstash-<30 days ago>` misses: it deletes one day a week);
  - an index restored from a snapshot: a restore keeps the index's original creation
    date. The snapshot is made once, at up(), by a second, short-lived node started under
    libfaketime 45 days in the past (FAKETIME=-45d); it writes `logstash-archive-000001`
    (a rollover-style name without a date) into the fs repository both nodes share.

Public API:
    up() / down() / status()
    url() -> str
    fault helpers:
        plant_dated_index(days_ago, prefix) -> name    an index named for that UTC day
        restore_archive() -> name                      the 45-days-old index, restored
        delete_index(name)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from testenv import procs
from testenv.paths import HOST, PORTS, cache_dir, state_dir, under

VERSION = "2.19.1"
LOG4J_VERSION = "2.21.0"  # the log4j-api version opensearch 2.19.1 depends on
PROC = "opensearch"
PAST_PROC = "opensearch-past"
OS_USER = "opscheck-search"
HEAP = "256m"
START_TIMEOUT = 180  # 2 cores shared with the rest of the test environment
REPO = "opscheck-archive"
SNAPSHOT = "logs-45-days-ago"
ARCHIVE_INDEX = "logstash-archive-000001"
PAST_DAYS = 45
# The daily indices up() keeps current (002: logstash output and the runbook's delete command).
SEED_PREFIXES = ("logstash-", "hankook-smartsensor-")
SEED_DAYS = 3  # today and the two days before
SEED_ALIAS = "opscheck-seed"  # marks what up() seeded, so its cleanup never touches planted faults
SEED_KEEP_DAYS = 7
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
JSON = {"Content-Type": "application/json"}


# ------------------------------------------------------------------------------ paths


def home() -> Path:
    """The assembled distribution (read-only, shared by both nodes)."""
    return cache_dir() / f"opensearch-{VERSION}"


search_dir = under(state_dir, "search")
snapshots_dir = under(search_dir, "snapshots")


def url(port: int | None = None) -> str:
    return f"http://{HOST}:{port or PORTS['opensearch']}"


# ------------------------------------------------------------------------- assembly


def _pom(artifact: str, deps: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>opscheck.testenv</groupId><artifactId>{artifact}</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{body}</dependencies></project>\n"
    )


def _copy_dependencies(work: Path, artifact: str, deps: list[tuple[str, str, str]], out: Path) -> None:
    d = work / artifact
    d.mkdir(parents=True, exist_ok=True)
    (d / "pom.xml").write_text(_pom(artifact, deps))
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            f"-Dmaven.repo.local={work / 'm2'}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={out}",
            "-DincludeScope=runtime",
        ],
        cwd=d,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"mvn could not fetch {artifact}: {' | '.join(tail)}")


_NETTY_DESCRIPTOR = """\
description=Netty 4 based transport implementation
version={v}
name=transport-netty4
classname=org.opensearch.transport.Netty4Plugin
java.version=11
opensearch.version={v}
extended.plugins=
has.native.controller=false
"""
# The module's grants in the distribution (its plugin-security.policy is not in the jar).
_NETTY_POLICY = """\
grant codeBase "${codebase.netty-common}" {
   permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
   permission java.net.SocketPermission "*", "accept,connect";
   permission java.lang.RuntimePermission "*", "setContextClassLoader";
};
grant codeBase "${codebase.netty-transport}" {
   permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
"""


def assemble() -> Path:
    """Lay out the distribution from Maven Central once; later calls return at once."""
    target = home()
    if (target / ".complete").exists():
        return target
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise RuntimeError("maven and a Java runtime are required (testenv/install-system-packages.sh installs them)")
    work = cache_dir() / "build" / f"opensearch-{VERSION}"
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    lib, module = partial / "lib", partial / "modules" / "transport-netty4"
    _copy_dependencies(
        work,
        "server",
        [
            ("org.opensearch", "opensearch", VERSION),
            ("org.opensearch", "opensearch-plugin-classloader", VERSION),
            ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
        ],
        lib,
    )
    netty_all = work / "netty-lib"
    shutil.rmtree(netty_all, ignore_errors=True)
    _copy_dependencies(work, "netty", [("org.opensearch.plugin", "transport-netty4-client", VERSION)], netty_all)
    module.mkdir(parents=True)
    # A module's jars must not repeat the server's (the jar-hell check refuses duplicates).
    for jar in netty_all.glob("*.jar"):
        if not (lib / jar.name).exists():
            shutil.copy2(jar, module / jar.name)
    (module / "plugin-descriptor.properties").write_text(_NETTY_DESCRIPTOR.format(v=VERSION))
    (module / "plugin-security.policy").write_text(_NETTY_POLICY)
    for empty in ("bin", "plugins"):  # the node checks that path.home/bin exists
        (partial / empty).mkdir()
    for dirpath, dirnames, filenames in os.walk(partial):
        for name in dirnames:
            os.chmod(Path(dirpath) / name, 0o755)
        for name in filenames:
            os.chmod(Path(dirpath) / name, 0o644)
    (partial / ".complete").write_text(VERSION + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.rename(partial, target)
    return target


# --------------------------------------------------------------------------- nodes


def _ensure_user() -> tuple[int, int]:
    try:
        pw = pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                OS_USER,
            ],
            check=True,
            capture_output=True,
        )
        pw = pwd.getpwnam(OS_USER)
    return pw.pw_uid, pw.pw_gid


def _ensure_traversable(path: Path) -> None:
    """o+x on every ancestor (root's home is 0700 by default) so OS_USER reaches the jars
    and its state; only search permission is added, nobody can list those folders."""
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, (mode & 0o7777) | 0o001)


_LOG4J = """\
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
logger.node.name = org.opensearch.node.Node
logger.node.level = info
"""


def _node_dirs(root: Path, name: str, http: int, transport: int) -> bool:
    """Write a node's config under `root` (owned by OS_USER: the node writes its keystore
    there); True if the configuration changed."""
    uid, gid = _ensure_user()
    for sub in ("config", "data", "logs", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    snapshots_dir().mkdir(parents=True, exist_ok=True)
    yml = "\n".join(
        [
            f"cluster.name: opscheck-{name}",
            f"node.name: {name}-0",
            f"path.data: {root / 'data'}",
            f"path.logs: {root / 'logs'}",
            f'path.repo: ["{snapshots_dir()}"]',
            f"network.host: {HOST}",
            f"http.port: {http}",
            f"transport.port: {transport}",
            "discovery.type: single-node",
            # The node's disk is the machine's, shared with everything else: do not turn
            # indices read-only when it fills past the default watermarks.
            "cluster.routing.allocation.disk.threshold_enabled: false",
            "",
        ]
    )
    changed = False
    for fname, text in (("opensearch.yml", yml), ("log4j2.properties", _LOG4J), ("jvm.options", "")):
        path = root / "config" / fname
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
    for path in [root, snapshots_dir(), *root.rglob("*")]:
        if path.stat().st_uid != uid:
            os.chown(path, uid, gid)
    _ensure_traversable(root)
    return changed


def _argv(root: Path) -> list[str]:
    java = shutil.which("java") or "java"
    return [
        java,
        f"-Xms{HEAP}",
        f"-Xmx{HEAP}",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        f"-Djava.io.tmpdir={root / 'tmp'}",
        "-Dlog4j2.disable.jmx=true",
        "-Dlog4j2.formatMsgNoLookups=true",
        "-Djava.locale.providers=SPI,COMPAT",
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        f"-Dopensearch.path.home={home()}",
        f"-Dopensearch.path.conf={root / 'config'}",
        "-Dopensearch.distribution.type=tar",
        "-Dopensearch.bundled_jdk=false",
        "-cp",
        f"{home() / 'lib'}/*",
        "org.opensearch.bootstrap.OpenSearch",
    ]


def _health(base: str) -> str | None:
    try:
        r = requests.get(f"{base}/_cluster/health", timeout=2)
        return r.json().get("status") if r.ok else None
    except (requests.RequestException, ValueError):
        return None


def _start_node(proc: str, root: Path, port: int, *, argv_prefix: list[str] = ()) -> float:
    """Start a node unless it runs; wait for yellow/green health. Returns seconds waited."""
    start = time.monotonic()
    procs.start(proc, [*argv_prefix, *_argv(root)], user=OS_USER, cwd=home())
    procs.wait_started(
        proc,
        lambda: _health(url(port)) in ("green", "yellow"),
        START_TIMEOUT,
        f"OpenSearch ({proc}) on {HOST}:{port}",
        interval=0.5,
    )
    return time.monotonic() - start


def _request(method: str, path: str, body: Any = None, *, base: str | None = None, ok: tuple[int, ...] = (200,)) -> Any:
    r = requests.request(
        method, f"{base or url()}{path}", headers=JSON, data=json.dumps(body) if body is not None else None, timeout=60
    )
    if r.status_code not in ok:
        raise RuntimeError(f"OpenSearch {method} {path}: HTTP {r.status_code} {r.text[:300]}")
    return r.json() if r.content else None


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One up() at a time (several agents may run `testenv up` together)."""
    search_dir().mkdir(parents=True, exist_ok=True)
    with open(search_dir() / "up.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -------------------------------------------------------------------------- the data


def _day(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _create_index(
    name: str, docs: list[dict[str, Any]], *, base: str | None = None, aliases: dict[str, Any] | None = None
) -> None:
    body: dict[str, Any] = {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}
    if aliases:
        body["aliases"] = aliases
    _request("PUT", f"/{name}", body, base=base)
    lines = "".join(json.dumps({"index": {}}) + "\n" + json.dumps(d) + "\n" for d in docs)
    r = requests.post(
        f"{base or url()}/{name}/_bulk?refresh=true",
        data=lines,
        headers={"Content-Type": "application/x-ndjson"},
        timeout=60,
    )
    if not r.ok or r.json().get("errors"):
        raise RuntimeError(f"OpenSearch bulk into {name}: HTTP {r.status_code} {r.text[:300]}")


def _log_docs(day: datetime, n: int, app: str) -> list[dict[str, Any]]:
    return [
        {
            "@timestamp": (day + timedelta(minutes=7 * i)).isoformat(),
            "kubernetes": {"labels": {"app": app}},
            "level": "INFO" if i % 10 else "WARN",
            "message": f"{app} request {i} served",
        }
        for i in range(n)
    ]


def _existing(pattern: str) -> dict[str, dict[str, Any]]:
    rows = _request(
        "GET", f"/_cat/indices/{pattern}?format=json&h=index,creation.date&expand_wildcards=open,closed", ok=(200, 404)
    )  # 404: a concrete name that does not exist
    return {r["index"]: r for r in rows} if isinstance(rows, list) else {}


def _seed_current() -> list[str]:
    """Today's and the previous days' indices, as logstash would have written them; drop
    the seeded ones past SEED_KEEP_DAYS (the test environment's own curator), so a
    long-lived test environment stays within the retention."""
    created = []
    for prefix in SEED_PREFIXES:
        have = _existing(f"{prefix}*")
        for days_ago in range(SEED_DAYS):
            day = _day(days_ago)
            name = f"{prefix}{day:%Y.%m.%d}"
            if name not in have:
                app = "sensor-gateway" if prefix.startswith("hankook") else "api-server"
                _create_index(name, _log_docs(day, 20, app), aliases={SEED_ALIAS: {}})
                created.append(name)
    seeded = _request("GET", f"/_alias/{SEED_ALIAS}", ok=(200, 404)) or {}
    cutoff = f"{_day(SEED_KEEP_DAYS):%Y.%m.%d}"
    for name in seeded:
        if name.rsplit("-", 1)[-1] < cutoff:
            delete_index(name)
    return created


def _register_repo(base: str, readonly: bool) -> None:
    _request(
        "PUT",
        f"/_snapshot/{REPO}",
        {"type": "fs", "settings": {"location": str(snapshots_dir()), "readonly": readonly}},
        base=base,
    )


def _have_snapshot() -> bool:
    r = requests.get(f"{url()}/_snapshot/{REPO}/{SNAPSHOT}", timeout=30)
    return r.ok and any(s.get("state") == "SUCCESS" for s in r.json().get("snapshots", []))


def _make_archive_snapshot() -> float:
    """Once: a short-lived node under libfaketime, PAST_DAYS in the past, creates
    ARCHIVE_INDEX and snapshots it into the shared repository; then it is stopped and its
    files removed. Returns the seconds it took."""
    if not LIBFAKETIME.exists():
        raise RuntimeError(f"{LIBFAKETIME} is missing (libfaketime: testenv/install-system-packages.sh installs it)")
    start = time.monotonic()
    root = search_dir() / "past"
    shutil.rmtree(root, ignore_errors=True)
    _node_dirs(root, "past", PORTS["opensearch-past"], PORTS["opensearch-past-transport"])
    base = url(PORTS["opensearch-past"])
    try:
        _start_node(
            PAST_PROC,
            root,
            PORTS["opensearch-past"],
            argv_prefix=[
                "env",
                f"LD_PRELOAD={LIBFAKETIME}",
                f"FAKETIME=-{PAST_DAYS}d",
                # timers and timeouts keep the real monotonic clock
                "FAKETIME_DONT_FAKE_MONOTONIC=1",
            ],
        )
        _create_index(ARCHIVE_INDEX, _log_docs(_day(PAST_DAYS), 50, "api-server"), base=base)
        _register_repo(base, readonly=False)
        _request(
            "PUT",
            f"/_snapshot/{REPO}/{SNAPSHOT}?wait_for_completion=true",
            {"indices": ARCHIVE_INDEX, "include_global_state": False},
            base=base,
        )
    finally:
        _stop(PAST_PROC)
        shutil.rmtree(root, ignore_errors=True)
    return time.monotonic() - start


# --------------------------------------------------------------------------- up/down


def up() -> dict[str, Any]:
    with _locked():
        t0 = time.monotonic()
        assemble()
        assembled = time.monotonic() - t0
        root = search_dir() / "node"
        if _node_dirs(root, "logs", PORTS["opensearch"], PORTS["opensearch-transport"]):
            _stop(PROC)  # a changed configuration needs a restart
        started = _start_node(PROC, root, PORTS["opensearch"])
        _register_repo(url(), readonly=True)
        past = 0.0
        if not _have_snapshot():
            past = _make_archive_snapshot()
            _register_repo(url(), readonly=True)  # re-read the repository's new contents
        created = _seed_current()
        return {
            "url": url(),
            "assemble_s": round(assembled, 1),
            "start_s": round(started, 1),
            "archive_snapshot_s": round(past, 1),
            "seeded": created,
        }


def _stop(proc: str) -> None:
    """Stop runuser's process group, then wait for the JVM itself: runuser can exit first."""
    pid = procs.read_pid(proc)
    java = _java_pid(pid) if pid is not None else None
    procs.stop(proc, timeout=30)
    if java is not None and java != pid:
        with contextlib.suppress(TimeoutError):
            procs.wait_for(lambda: not procs.pid_alive(java), 30, f"{proc} JVM {java} to exit")
        with contextlib.suppress(ProcessLookupError):
            os.kill(java, signal.SIGKILL)


def down() -> None:
    _stop(PAST_PROC)
    _stop(PROC)


def status() -> dict[str, Any]:
    pid = procs.read_pid(PROC)
    info: dict[str, Any] = {"running": pid is not None, "url": url(), "version": VERSION}
    if pid is not None:
        info["health"] = _health(url())
        with contextlib.suppress(OSError):
            rss = next(
                line
                for line in Path(f"/proc/{_java_pid(pid)}/status").read_text().splitlines()
                if line.startswith("VmRSS")
            )
            info["rss"] = rss.split(":", 1)[1].strip()
    return info


def _java_pid(pid: int) -> int:
    """The JVM under runuser (runuser stays as its parent)."""
    with contextlib.suppress(OSError, ValueError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
    return pid


# ------------------------------------------------------------------------ fault helpers


def plant_dated_index(days_ago: int, prefix: str = "logstash-") -> str:
    """Fault: a daily index for the UTC day `days_ago` days back, with that day's logs
    (its creation date is now: only its name says how old its data is)."""
    day = _day(days_ago)
    name = f"{prefix}{day:%Y.%m.%d}"
    if name not in _existing(name):
        _create_index(name, _log_docs(day, 5, "api-server"))
    return name


def restore_archive() -> str:
    """Fault: restore ARCHIVE_INDEX from the snapshot; it keeps its creation date, PAST_DAYS
    (and counting) before now."""
    if ARCHIVE_INDEX not in _existing(ARCHIVE_INDEX):
        _request(
            "POST",
            f"/_snapshot/{REPO}/{SNAPSHOT}/_restore?wait_for_completion=true",
            {"indices": ARCHIVE_INDEX, "include_global_state": False},
        )
    return ARCHIVE_INDEX


def delete_index(name: str) -> None:
    _request("DELETE", f"/{name}", ok=(200, 404))
