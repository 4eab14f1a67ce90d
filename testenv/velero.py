"""Velero, for real: its server backs up the demo cluster's API objects into a local S3
bucket, run by the Schedules the runbooks name.

What runs (built from the Go module proxy by testenv/build-binaries.sh, cached under
~/.cache/opscheck/bin/velero-VERSION/):

  * gofakes3 (github.com/johannesboyne/gofakes3, MIT), an S3 endpoint on PORTS["velero-s3"]
    keeping its buckets in a bolt file in the state directory; bucket `velero`;
  * `velero server` (github.com/vmware-tanzu/velero VERSION, Apache-2.0) as a host process
    against the demo cluster's kube-apiserver, with the AWS object-store plugin
    (github.com/vmware-tanzu/velero-plugin-for-aws PLUGIN_VERSION) in its plugin dir and
    BackupStorageLocation `default` pointing at gofakes3. kwok has no volumes: no node agent,
    no file-system backup (a VolumeSnapshotLocation only because runbook 002's Schedule names
    one: there is no volume to snapshot). Off: the backup-sync controller (it
    deletes every Completed Backup not in the bucket, i.e. the back-dated history below),
    the repository controllers (no kopia repository without volumes).
  * Velero's own CRDs (`velero install --crds-only --dry-run -o yaml` of the same release),
    replacing the open-schema stand-ins of manifests/crds-platform.yaml in this cluster.

What is real and what is written: the Schedules of manifests/platform.yaml are real
Schedule objects the server runs (its status: phase, lastBackup, written by the server);
`up()` makes each schedule's newest backup a real one (`velero backup create
--from-schedule`: the server validates it, backs up the namespaces and uploads them to the
bucket, phase Completed). The server cannot back-date a backup, so the older history the
checks read (the two fire times before the newest) is written by testenv as Backups
annotated WRITTEN, their status in the create request (Velero's CRDs have no status
subresource; the server never picks up a Backup created with a phase). The manual
backup `ns-backup-<date>` is real too.

Public API:
    up() -> dict / down() / status()
    newest_backup(schedule), create_backup(schedule) (waits until it finished)
    fault helpers, real breaks the server reports: add_failing_hook (a backup ends
    PartiallyFailed), stop_object_store (the location goes Unavailable, backups fail),
    set_schedule_spec (paused, another TTL); restore_velero repairs them all
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import yaml

from testenv import cluster, procs
from testenv import platform_services as platform
from testenv.paths import HOST, PORTS, cache_dir, state_dir

VERSION = "v1.18.3"  # testenv/build-binaries.sh builds these
PLUGIN_VERSION = "v1.14.3"
GOFAKES3_VERSION = "v1.2.0"
PROC = "velero"
S3_PROC = "velero-s3"
NAMESPACE = platform.VELERO_NS
BUCKET = "velero"
LOCATION = "default"
FIELD_MANAGER = "opscheck-testenv-velero"
# On the Backups testenv writes (history the server cannot back-date), so `restore_velero`
# and a reader can tell them from the server's own.
WRITTEN = "opscheck.testenv/written"
SCHEDULE_LABEL = "velero.io/schedule-name"
# What the server writes on every backup it runs (a written one, even an older testenv's
# without WRITTEN, has none).
RAN_ANNOTATION = "velero.io/source-cluster-k8s-gitversion"
FINISHED = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}
TIMEOUT = 90.0


def bin_dir() -> Path:
    return cache_dir() / "bin" / f"velero-{VERSION}"


def binary() -> Path:
    return bin_dir() / "velero"


def plugin_dir() -> Path:
    return bin_dir() / "plugins"


def s3_binary() -> Path:
    return cache_dir() / "bin" / f"gofakes3-{GOFAKES3_VERSION}" / "gofakes3"


def crds_file() -> Path:
    """The release's CRDs, printed by the build (`velero install --crds-only --dry-run`)."""
    return bin_dir() / "crds.yaml"


def velero_dir() -> Path:
    d = state_dir() / "velero"
    d.mkdir(parents=True, exist_ok=True)
    return d


def s3_url() -> str:
    return f"http://{HOST}:{PORTS['velero-s3']}"


def _metrics_url() -> str:
    return f"http://{HOST}:{PORTS['velero-metrics']}/metrics"


def _bsl_path(name: str = LOCATION, plural: str = "backupstoragelocations") -> str:
    # BackupStorageLocation is no kind testenv's client knows (the checks never read it)
    return f"/apis/velero.io/v1/namespaces/{NAMESPACE}/{plural}/{name}"


def location() -> dict | None:
    return cluster.get_path(_bsl_path())


def location_phase() -> str | None:
    return ((location() or {}).get("status") or {}).get("phase")


def _phase(backup: dict | None) -> str | None:
    return ((backup or {}).get("status") or {}).get("phase")


# --------------------------------------------------------------------------- setup


def _ensure_crds() -> None:
    if not crds_file().exists():
        raise RuntimeError(f"missing {crds_file()} (run testenv/build-binaries.sh first)")
    docs = [d for d in yaml.safe_load_all(crds_file().read_text()) if d]
    crds = [i for d in docs for i in (d.get("items") or [d]) if i.get("kind") == "CustomResourceDefinition"]
    cluster.DEMO.api.install_crds(crds, f"velero-{VERSION}", TIMEOUT)
    procs.wait_for(
        lambda: cluster.request("GET", f"/apis/velero.io/v1/namespaces/{NAMESPACE}/backupstoragelocations") is not None,
        TIMEOUT,
        "velero.io/v1 served",
    )


def _credentials_file() -> Path:
    """The AWS plugin's shared credentials (gofakes3 accepts any key)."""
    path = velero_dir() / "credentials"
    if not path.exists():
        procs.write_private(
            path, "[default]\naws_access_key_id = opscheck-testenv\naws_secret_access_key = opscheck-testenv-secret\n"
        )
    return path


def _location_doc() -> dict:
    return {
        "apiVersion": "velero.io/v1",
        "kind": "BackupStorageLocation",
        "metadata": {"name": LOCATION, "namespace": NAMESPACE},
        "spec": {
            "provider": "aws",
            "default": True,
            "objectStorage": {"bucket": BUCKET},
            "config": {
                "region": "minio",
                "s3ForcePathStyle": "true",
                "s3Url": s3_url(),
                # gofakes3 does not know the SDK's default CRC32 trailer
                "checksumAlgorithm": "",
            },
        },
    }


def _snapshot_location_doc() -> dict:
    """The VolumeSnapshotLocation runbook 002's Schedule names (`volumeSnapshotLocations:
    [default]`): Velero refuses the backup without it; nothing here has a volume to snapshot."""
    return {
        "apiVersion": "velero.io/v1",
        "kind": "VolumeSnapshotLocation",
        "metadata": {"name": LOCATION, "namespace": NAMESPACE},
        "spec": {"provider": "aws", "config": {"region": "minio"}},
    }


def _ensure_objects() -> None:
    cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}, field_manager=FIELD_MANAGER
    )
    for doc, plural in (
        (_location_doc(), "backupstoragelocations"),
        (_snapshot_location_doc(), "volumesnapshotlocations"),
    ):
        cluster.request(
            "PATCH",
            _bsl_path(plural=plural),
            doc,
            content_type="application/apply-patch+yaml",
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
        )
    for sched in [d for d in platform._docs("platform.yaml") if d["kind"] == "Schedule"]:
        cluster.apply(sched, field_manager=FIELD_MANAGER)
        name, spec = sched["metadata"]["name"], sched["spec"]
        if cluster.get("Schedule", NAMESPACE, name)["spec"] != spec:  # a fault helper's change
            cluster.patch(
                "Schedule", NAMESPACE, name, [{"op": "replace", "path": "/spec", "value": spec}], kind_of_patch="json"
            )


# -------------------------------------------------------------------------- process


def _s3_argv() -> list[str]:
    return [
        str(s3_binary()),
        f"-host={HOST}:{PORTS['velero-s3']}",
        "-backend=bolt",
        f"-bolt.db={velero_dir() / 's3.db'}",
        f"-initialbucket={BUCKET}",
    ]


def _server_argv() -> list[str]:
    return [
        str(binary()),
        "server",
        f"--kubeconfig={cluster.kubeconfig()}",
        f"--namespace={NAMESPACE}",
        f"--plugin-dir={plugin_dir()}",
        f"--metrics-address={HOST}:{PORTS['velero-metrics']}",
        "--profiler-address=",
        "--features=",
        "--default-volumes-to-fs-backup=false",
        "--disable-controllers=backup-sync,backup-repo",
        # a stopped S3 shows as Unavailable within seconds (the default is a minute)
        "--store-validation-frequency=2s",
        "--log-format=text",
    ]


def _s3_answers() -> bool:
    return procs.http_ok(f"{s3_url()}/{BUCKET}", 2)


def _start_object_store() -> None:
    if not s3_binary().exists():
        raise RuntimeError(f"missing {s3_binary()} (run testenv/build-binaries.sh first)")
    procs.stop_if_started_otherwise(S3_PROC, _s3_argv())
    procs.start(S3_PROC, _s3_argv())
    procs.wait_started(S3_PROC, _s3_answers, TIMEOUT, f"S3 at {s3_url()}")


def _start_server() -> None:
    if not binary().exists():
        raise RuntimeError(f"missing {binary()} (run testenv/build-binaries.sh first)")
    procs.stop_if_started_otherwise(PROC, _server_argv())
    procs.start(
        PROC,
        _server_argv(),
        env={"AWS_SHARED_CREDENTIALS_FILE": str(_credentials_file()), "VELERO_NAMESPACE": NAMESPACE},
    )
    procs.wait_started(PROC, lambda: procs.http_ok(_metrics_url(), 2), TIMEOUT, f"Velero metrics at {_metrics_url()}")


def _wait_location(phase: str) -> None:
    procs.wait_started(PROC, lambda: location_phase() == phase, TIMEOUT, f"BackupStorageLocation {LOCATION} {phase}")


# -------------------------------------------------------------------------- backups


def _backups(schedule: str | None = None) -> list[dict]:
    sel = f"{SCHEDULE_LABEL}={schedule}" if schedule else None
    return cluster.list_("Backup", NAMESPACE, sel)


def newest_backup(schedule: str) -> dict:
    return max(_backups(schedule), key=lambda b: (b.get("status") or {}).get("startTimestamp", ""))


def _schedule_template(schedule: dict) -> tuple[dict, dict[str, str]]:
    """The Backup spec and labels `velero backup create --from-schedule` gives a backup."""
    spec = schedule["spec"]["template"]
    labels = {
        **((spec.get("metadata") or {}).get("labels") or {}),
        SCHEDULE_LABEL: schedule["metadata"]["name"],
    }
    return {k: v for k, v in spec.items() if k != "metadata"}, labels


def create_backup(schedule: str | None, spec: dict | None = None, name: str | None = None) -> dict:
    """`velero backup create --from-schedule <schedule>` (or a manual backup of `spec`),
    waits until the server has finished it; returns it."""
    labels: dict[str, str] = {}
    if schedule is not None:
        spec, labels = _schedule_template(cluster.get("Schedule", NAMESPACE, schedule))
    name = name or f"{schedule or 'backup'}-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    cluster.DEMO.api.create(
        {
            "apiVersion": "velero.io/v1",
            "kind": "Backup",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "spec": spec,
        }
    )
    procs.wait_started(
        PROC, lambda: _phase(cluster.get("Backup", NAMESPACE, name)) in FINISHED, TIMEOUT, f"Backup {name} finished"
    )
    return cluster.get("Backup", NAMESPACE, name)


def _write_backup(name: str, spec: dict, labels: dict[str, str], status: dict) -> None:
    """A Backup as a past Velero left it: the status in the create request (no status
    subresource), so the server never takes it for a new one."""
    cluster.create_if_missing(
        {
            "apiVersion": "velero.io/v1",
            "kind": "Backup",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {**labels, "velero.io/storage-location": LOCATION},
                "annotations": {WRITTEN: "true"},
            },
            "spec": spec,
            "status": status,
        }
    )


def made_by_server(backup: dict) -> bool:
    return RAN_ANNOTATION in (backup["metadata"].get("annotations") or {})


def _real_completed_since(backups: list[dict], since: dt.datetime) -> bool:
    for b in backups:
        started = (b.get("status") or {}).get("startTimestamp")
        if made_by_server(b) and _phase(b) == "Completed" and started and dt.datetime.fromisoformat(started) >= since:
            return True
    return False


def _record_last_backup(schedule: dict) -> None:
    """The Schedule's status.lastBackup: the start of its newest real backup. The server
    writes it only when the schedule itself fires, which in a fresh environment it has not
    yet done (the backups above are made `--from-schedule`); a Schedule without it is
    "never backed up" to monthly.velero-schedules."""
    name = schedule["metadata"]["name"]
    real = [b for b in _backups(name) if made_by_server(b) and _phase(b) == "Completed"]
    started = max(((b.get("status") or {}).get("startTimestamp") or "" for b in real), default="")
    recorded = (schedule.get("status") or {}).get("lastBackup") or ""
    if started and started > recorded:
        cluster.patch("Schedule", NAMESPACE, name, {"status": {"lastBackup": started}})


def _ensure_backups(now: dt.datetime) -> None:
    """Per Schedule: its older fire times written (history), and a real Completed backup
    since its last fire time, made now if the server has not made one."""
    for sched in cluster.list_("Schedule", NAMESPACE):
        name = sched["metadata"]["name"]
        template, labels = _schedule_template(sched)
        fires = platform._previous_fires(sched["spec"]["schedule"], platform.BACKUPS_PER_SCHEDULE, now)
        for fire in fires[1:]:
            status = platform._completed_status(fire + dt.timedelta(seconds=2), template.get("ttl", "720h0m0s"), 412)
            _write_backup(platform._backup_name(name, fire), template, labels, status)
        if not _real_completed_since(_backups(name), fires[0]):
            create_backup(name)
        _record_last_backup(sched)
    manual = [b for b in _backups() if SCHEDULE_LABEL not in (b["metadata"].get("labels") or {})]
    if not any(_phase(b) == "Completed" and made_by_server(b) for b in manual):
        create_backup(
            None,
            {"includedNamespaces": [cluster.NAMESPACE], "ttl": "168h0m0s", "storageLocation": LOCATION},
            f"ns-backup-{now:%Y%m%d%H%M%S}",
        )


# ------------------------------------------------------------------------ lifecycle


def up() -> dict[str, Any]:
    """Build check, CRDs, the S3 endpoint and the server, then what restore_velero makes
    (idempotent; repairs what the fault helpers left)."""
    t0 = time.monotonic()
    _ensure_crds()
    _ensure_objects()
    _start_object_store()
    _start_server()
    restore_velero()
    info = status()
    info["up_seconds"] = round(time.monotonic() - t0, 1)
    return info


def down() -> None:
    procs.stop(PROC)
    procs.stop(S3_PROC)


def status() -> dict[str, Any]:
    info: dict[str, Any] = {
        "running": False,
        "pid": procs.read_pid(PROC),
        "version": VERSION,
        "s3": s3_url(),
        "log_file": str(procs.log_file(PROC)),
    }
    if not (procs.is_running(PROC) and procs.is_running(S3_PROC)):
        return info
    try:
        info["location"] = location_phase()
        info["backups"] = {
            b["metadata"]["name"]: f"{_phase(b)}{'' if made_by_server(b) else ' (written)'}" for b in _backups()
        }
    except Exception as exc:  # the cluster is down
        info["error"] = str(exc)
        return info
    info["running"] = info["location"] == "Available" and procs.http_ok(_metrics_url(), 2)
    return info


# ----------------------------------------------------------------------------- faults


def add_failing_hook(schedule: str, namespace: str, app: str) -> dict:
    """Fault, real: the Schedule's backups run a pre-backup exec hook (`sync`, onError
    Continue) in the pods of `namespace` labelled app=`app`. kwok's pods have no exec, so
    the server records one error per pod and ends the backup PartiallyFailed. Returns the
    backup `velero backup create --from-schedule` makes then. Repair: restore_velero."""
    hook = {
        "name": "quiesce",
        "includedNamespaces": [namespace],
        "labelSelector": {"matchLabels": {"app": app}},
        "pre": [{"exec": {"container": app, "command": ["/bin/sync"], "onError": "Continue", "timeout": "10s"}}],
    }
    set_schedule_spec(schedule, template={"hooks": {"resources": [hook]}})
    return create_backup(schedule)


def set_schedule_spec(name: str, **changes: Any) -> dict:
    """Change a Schedule's spec, e.g. paused=True or template={"ttl": "72h0m0s"} (merged)."""
    cluster.patch("Schedule", NAMESPACE, name, {"spec": changes})
    return cluster.get("Schedule", NAMESPACE, name)


def stop_object_store() -> None:
    """Fault: the S3 endpoint stops; the server's next validation marks the location
    Unavailable (waited for), and backups fail validation from then on."""
    procs.stop(S3_PROC)
    _wait_location("Unavailable")


def restore_velero() -> None:
    """The repair of every fault above: the object store runs, the Schedules are their
    manifests, the backups the faults made fail go, written ones are Completed again, and
    each schedule's newest backup is a real Completed one."""
    _start_object_store()
    _ensure_objects()
    _wait_location("Available")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for b in _backups():
        st, name = b.get("status") or {}, b["metadata"]["name"]
        if st.get("phase") == "Completed" and not st.get("errors"):
            continue
        if not made_by_server(b):
            start = dt.datetime.fromisoformat(st.get("startTimestamp") or b["metadata"]["creationTimestamp"])
            fixed = platform._completed_status(start, b["spec"].get("ttl", "168h0m0s"), 412)
            cluster.patch("Backup", NAMESPACE, name, {"status": fixed})
        else:
            cluster.delete("Backup", NAMESPACE, name)
    _ensure_backups(now)


if __name__ == "__main__":  # python -m testenv.velero up|down|status
    procs.up_down_status_cli(up, down, status)
