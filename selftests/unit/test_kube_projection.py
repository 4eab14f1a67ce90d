"""The fields kube.project drops are read by no code: a check that starts reading one of
them must take it off the list (else it would judge a field that is never there)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

from opscheck.sources import kube

REPO = Path(__file__).resolve().parents[2]
# Everything that reads cluster objects (the audit record, the profile and the CLI do not).
READERS = [
    *(REPO / "opscheck" / "rules").rglob("*.py"),
    *(p for p in (REPO / "opscheck" / "sources").rglob("*.py") if p != Path(kube.__file__).resolve()),
    REPO / "opscheck" / "check.py",
    *(p for d in REPO.glob("tests_*") for p in d.rglob("*.py")),
    *(REPO / "fixtures").rglob("*.py"),
    REPO / "conftest.py",
]


def test_no_code_reads_a_dropped_field() -> None:
    names = "|".join(map(re.escape, kube.UNREAD_FIELDS))
    quoted = re.compile(rf"""["']({names})["']""")
    readers = {f"{p.relative_to(REPO)}: {m.group(1)}" for p in READERS for m in quoted.finditer(p.read_text())}
    assert readers == set()


POD = {
    "metadata": {
        "name": "api-0",
        "namespace": "qsign",
        "generateName": "api-",
        "resourceVersion": "42",
        "managedFields": [{"manager": "kubelet"}],
        "labels": {"app": "api", "ports": "kept: a label's key is data"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": "api-5f", "uid": "u1"}],
    },
    "spec": {
        "nodeName": "node-1",
        "tolerations": [{"key": "node.kubernetes.io/not-ready"}],
        "containers": [
            {
                "name": "api",
                "image": "qsign/api:1.0",
                "ports": [{"containerPort": 8080}],
                "volumeMounts": [{"name": "token", "mountPath": "/var/run"}],
                "resources": {"limits": {"memory": "512Mi"}},
                "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}],
            }
        ],
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.1",
        "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": "t"}],
        "containerStatuses": [
            {"name": "api", "ready": True, "restartCount": 3, "imageID": "sha256:x", "containerID": "c://1"}
        ],
    },
}


def test_pods_keep_what_checks_judge() -> None:
    pod = kube.project("pods", copy.deepcopy(POD))
    assert pod == {
        "metadata": {
            "name": "api-0",
            "namespace": "qsign",
            "labels": {"app": "api", "ports": "kept: a label's key is data"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "api-5f", "uid": "u1"}],
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [
                {
                    "name": "api",
                    "image": "qsign/api:1.0",
                    "resources": {"limits": {"memory": "512Mi"}},
                    "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "t"}],
            "containerStatuses": [{"name": "api", "ready": True, "restartCount": 3}],
        },
    }


def test_pod_templates_are_slimmed_too() -> None:
    cronjob = {"metadata": {"name": "backup"}, "spec": {"jobTemplate": {"spec": {"template": copy.deepcopy(POD)}}}}
    template = kube.project("cronjobs", cronjob)["spec"]["jobTemplate"]["spec"]["template"]
    assert "volumeMounts" not in template["spec"]["containers"][0]
    assert "tolerations" not in template["spec"]
    assert template["metadata"]["labels"]["app"] == "api"


def test_a_pages_continue_token_is_read_from_its_head() -> None:
    """The next page is requested before this one is decoded: its token comes from the head
    the API server writes (kind, apiVersion, metadata, then items); any other shape is
    decoded first."""
    page = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"63130","continue":"eyJ2Ijo_-+/="'
    page += b',"remainingItemCount":9500},"items":[{"metadata":{"name":"p","continue":"not-this"}}]}'
    assert kube.continue_token(page) == (True, "eyJ2Ijo_-+/=")
    last = b'{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[]}'
    assert kube.continue_token(last) == (True, None)
    reordered = b'{"items":[],"kind":"PodList","apiVersion":"v1","metadata":{"continue":"abc"}}'
    assert kube.continue_token(reordered) == (False, None)
