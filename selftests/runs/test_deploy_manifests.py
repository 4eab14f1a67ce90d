"""deploy/ on the test cluster's real API server, and the daily checklist run as its identity.

- The kustomize base, in an overlay a user would write for the demo system (its profile with
  `in_cluster: true`, Secret Roles in the demo's namespaces), is rendered by kustomize and
  server-side applied to the demo cluster's kube-apiserver for real; what the server stored
  is read back: every cadence's CronJob with its schedule, limits and hardened pod spec.
  Objects the apply created are deleted afterwards; those already there (deploy/rbac/, which
  the test environment applies from the same files) stay as they were.
- The manifests' own ServiceAccount gets a token from the TokenRequest API; the token and the
  cluster CA are laid out like the pod mount in a directory the run is pointed at
  (OPSCHECK_SERVICEACCOUNT_DIR), KUBERNETES_SERVICE_HOST/PORT name the API server, and the
  daily checklist runs through the in-cluster path: every check passes, and the audit log
  shows that token's requests with 0 Forbidden.
- Without a kubeconfig key, a cluster entry reads $KUBECONFIG, as kubectl does.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from opscheck.profile import load_profile
from opscheck.profile.clusters import SERVICEACCOUNT_DIR_VAR
from selftests.harness import DEMO_PROFILE, REPO, validate_results
from selftests.runs.test_least_privilege import forbidden_requests, requests_since
from testenv import cluster
from testenv.kubeapi import api_path

pytestmark = pytest.mark.usefixtures("testenv_up")

DEPLOY = REPO / "deploy"
NAMESPACE = cluster.READER_NAMESPACE  # deploy/rbac/reader.yaml's namespace: everything of deploy/ is there
CADENCES = {"daily": "0 5 * * *", "weekly": "30 5 * * 1", "monthly": "0 6 1 * *", "quarterly": "30 6 1 1,4,7,10 *"}
# What the only non-passed daily check says on a fresh reports directory (as on the plain demo run).
FIRST_RUN = {
    "daily.checklists-on-schedule": "not applicable: not applicable: no earlier run of a scheduled checklist "
    "in the ledger yet: the schedule starts with this run"
}


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kustomize build`: the kustomize binary (testenv/build-binaries.sh builds one from the
    Go module proxy), or the one inside kubectl."""
    built = cluster.bin_dir() / "kustomize"
    if built.is_file():
        cmd = [str(built), "build", str(directory)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(directory)]
    elif shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(directory)]
    else:
        pytest.fail("no kustomize: run testenv/build-binaries.sh (it builds one) or put kubectl on PATH")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def demo_profile(tmp_path: Path, name: str, demo_cluster: dict[str, Any]) -> Path:
    """environments/demo.yaml with its cluster entry replaced."""
    profile = yaml.safe_load(DEMO_PROFILE.read_text())
    profile["clusters"] = [demo_cluster]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def write_overlay(tmp_path: Path) -> Path:
    """What a user deploying to the demo system writes: the base, its profile, and the
    Secret Role in each namespace where the demo's checks read Secrets."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    shutil.copy(demo_profile(tmp_path, "profile.yaml", {"name": "demo", "in_cluster": True}), overlay / "profile.yaml")
    namespaces = [ns for ns in cluster.DEMO.secret_namespaces if ns != "kube-system"]  # the base has kube-system
    for ns in namespaces:
        (overlay / ns).mkdir()
        (overlay / ns / "kustomization.yaml").write_text(
            yaml.safe_dump({"namespace": ns, "resources": [os.path.relpath(DEPLOY / "rbac", overlay / ns)]})
        )
    kustomization = {
        # kustomize takes only relative paths to other kustomizations
        "resources": [os.path.relpath(DEPLOY, overlay), *namespaces],
        "configMapGenerator": [
            {"name": "opscheck-profile", "namespace": NAMESPACE, "behavior": "replace", "files": ["profile.yaml"]}
        ],
        "images": [{"name": "opscheck", "newName": "registry.example.com/ops/opscheck", "newTag": "0.1.0"}],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return overlay


def key(obj: dict[str, Any]) -> tuple[str, str | None, str]:
    return obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """The overlay applied to the demo cluster (server-side apply), removed afterwards."""
    tmp_path = tmp_path_factory.mktemp("deploy")
    objects = kustomize(write_overlay(tmp_path))
    api = cluster.DEMO.api
    existing = {key(o) for o in objects if api.get(*key(o)) is not None}
    created = [o for o in objects if key(o) not in existing]
    try:
        # Namespaces first; the rest in kustomize's order. The field manager is the test
        # environment's: deploy/rbac/'s objects, which it applied from the same files, keep
        # one owner and stay exactly as they were.
        for obj in sorted(objects, key=lambda o: o["kind"] != "Namespace"):
            api.apply(obj)
        yield objects
    finally:
        for obj in reversed(created):
            api.delete(*key(obj))


def test_the_base_renders_the_production_rbac_unchanged_and_one_cronjob_per_cadence():
    objects = kustomize(DEPLOY)
    kinds = sorted(key(o) for o in objects)
    rbac_files = [d for f in ("reader.yaml",) for d in yaml.safe_load_all((DEPLOY / "rbac" / f).read_text()) if d]
    for doc in rbac_files:
        assert next(o for o in objects if key(o) == key(doc)) == doc  # reader.yaml as it is
    secret_reader = [d for d in yaml.safe_load_all((DEPLOY / "rbac" / "secret-reader.yaml").read_text()) if d]
    for ns in ("default", "kube-system"):
        for doc in secret_reader:
            placed = next(o for o in objects if key(o) == (doc["kind"], ns, doc["metadata"]["name"]))
            assert {**placed, "metadata": {**placed["metadata"], "namespace": None}} == {
                **doc,
                "metadata": {**doc["metadata"], "namespace": None},
            }
    assert [k for k in kinds if k[0] == "CronJob"] == sorted(("CronJob", NAMESPACE, f"opscheck-{c}") for c in CADENCES)
    assert ("PersistentVolumeClaim", NAMESPACE, "opscheck-reports") in kinds
    assert ("ConfigMap", NAMESPACE, "opscheck-profile") in kinds
    images = {c["image"] for o in objects if o["kind"] == "CronJob" for c in pod_spec(o)["containers"]}
    assert images == {"opscheck:0.1.0"}


def pod_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_the_api_server_stores_each_cadence_as_a_hardened_cronjob_of_the_read_only_identity(deployed):
    api = cluster.DEMO.api
    for cadence, schedule in CADENCES.items():
        stored = api.get("CronJob", NAMESPACE, f"opscheck-{cadence}")
        assert stored is not None, cadence
        spec = stored["spec"]
        assert spec["schedule"] == schedule
        assert spec["timeZone"] == "Etc/UTC"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 5)
        assert spec["startingDeadlineSeconds"] == 3600
        job = spec["jobTemplate"]["spec"]
        assert job["activeDeadlineSeconds"] == (3600 if cadence in ("daily", "weekly") else 7200)
        assert job["backoffLimit"] == 0
        pod = pod_spec(stored)
        assert pod["serviceAccountName"] == cluster.READER_SA
        assert pod["restartPolicy"] == "Never"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        assert container["image"] == "registry.example.com/ops/opscheck:0.1.0"
        assert container["command"] == [
            "pytest",
            "-m",
            cadence,
            "--env=/etc/opscheck/profile/profile.yaml",
            "--report-dir=/var/lib/opscheck/reports",
        ]
        hardening = container["securityContext"]
        assert hardening["readOnlyRootFilesystem"] is True
        assert hardening["allowPrivilegeEscalation"] is False
        assert hardening["runAsNonRoot"] is True
        assert hardening["capabilities"] == {"drop": ["ALL"]}
        assert hardening["seccompProfile"] == {"type": "RuntimeDefault"}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/tmp"]]["emptyDir"] is not None
        assert volumes[mounts["/var/lib/opscheck/reports"]]["persistentVolumeClaim"]["claimName"] == "opscheck-reports"
        assert volumes[mounts["/etc/opscheck/profile"]]["configMap"]["name"] == "opscheck-profile"
        assert volumes[mounts["/etc/opscheck/secrets"]]["secret"]["secretName"] == "opscheck-credentials"
    assert api.get("PersistentVolumeClaim", NAMESPACE, "opscheck-reports") is not None
    stored_profile = yaml.safe_load(api.get("ConfigMap", NAMESPACE, "opscheck-profile")["data"]["profile.yaml"])
    assert stored_profile["clusters"] == [{"name": "demo", "in_cluster": True}]
    assert stored_profile["export"]["pushgateway"]["url"]  # the Pushgateway export is wired


def serviceaccount_mount(tmp_path: Path) -> tuple[Path, str]:
    """A directory laid out like /var/run/secrets/kubernetes.io/serviceaccount, with a fresh
    token of the manifests' ServiceAccount (TokenRequest API); and the token's id."""
    answer = cluster.DEMO.api.request(
        "POST",
        api_path("ServiceAccount", NAMESPACE, cluster.READER_SA, "token"),
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
    )
    token = answer["status"]["token"]
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    (mount / "token").write_text(token)
    shutil.copy(cluster.cluster_dir() / "pki" / "ca.crt", mount / "ca.crt")
    (mount / "namespace").write_text(NAMESPACE)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return mount, claims.get("jti", "")


def the_one_run(reports: Path) -> dict[str, Any]:
    (folder,) = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
    data = json.loads((folder / "results.json").read_text())
    validate_results(data)
    return data


def test_the_daily_checklist_passes_in_cluster_with_the_manifests_own_serviceaccount(
    checks, deployed, tmp_path, monkeypatch
):
    mount, token_id = serviceaccount_mount(tmp_path)
    server = urlsplit(cluster.server_url())
    pod_env = {
        SERVICEACCOUNT_DIR_VAR: str(mount),
        "KUBERNETES_SERVICE_HOST": server.hostname or "",
        "KUBERNETES_SERVICE_PORT": str(server.port),
    }
    # The profile the ConfigMap holds, as the pod reads it; deploy/'s own example validates too.
    stored = cluster.DEMO.api.get("ConfigMap", NAMESPACE, "opscheck-profile")["data"]["profile.yaml"]
    profile = tmp_path / "profile.yaml"
    profile.write_text(stored)
    for name, value in pod_env.items():
        monkeypatch.setenv(name, value)
    assert load_profile(DEPLOY / "profile.yaml").clusters[0].in_cluster

    offset = cluster.audit_log().stat().st_size
    proc, reports = checks.run_pytest("-m", "daily", profile=profile, env=pod_env)
    data = the_one_run(reports)
    not_passed = {c["id"]: f"{c['outcome']}: {c['message']}" for c in data["checks"] if c["outcome"] != "passed"}
    assert not_passed == FIRST_RUN, proc.stdout[-3000:]
    assert proc.returncode == 0
    assert data["run"]["clusters"]["demo"]["kubeconfig"] == f"in-cluster ServiceAccount ({mount})"
    assert data["run"]["clusters"]["demo"]["server_version"] == "v1.33.13"

    requests = requests_since(offset)
    if token_id:  # the API server records a bound token's id: these requests carried our token
        credential = f"JTI={token_id}"
        ours = [
            e
            for e in requests
            if credential in e["user"].get("extra", {}).get("authentication.kubernetes.io/credential-id", [])
        ]
        assert len(ours) == len(requests)
    print(
        f"in-cluster daily run: {len(requests)} requests as {cluster.READER_USER}, Forbidden: {forbidden_requests(requests)}"
    )
    assert len(requests) >= 20
    assert forbidden_requests(requests) == []
    assert {e["verb"] for e in requests} <= {"get", "list"}


def test_a_cluster_without_a_kubeconfig_key_reads_KUBECONFIG(checks, tmp_path):
    profile = demo_profile(tmp_path, "kubeconfig-env.yaml", {"name": "demo"})
    kubeconfig = cluster.reader_kubeconfig()
    proc, reports = checks.run_pytest(
        "-m", "daily", "-k", "pods_all_namespaces or nodes", profile=profile, env={"KUBECONFIG": str(kubeconfig)}
    )
    data = the_one_run(reports)
    outcomes = {c["id"]: c["outcome"] for c in data["checks"]}
    assert outcomes.get("daily.pods-all-namespaces") == "passed", proc.stdout[-3000:]
    assert data["run"]["clusters"]["demo"]["kubeconfig"] == str(kubeconfig)
    assert data["run"]["clusters"]["demo"]["server_version"] == "v1.33.13"
