"""testenv/kind/kind_manifests.py reads kind's manifests from the kind module's Go constants."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "testenv" / "kind" / "kind_manifests.py"
_spec = importlib.util.spec_from_file_location("kind_manifests", SCRIPT)
assert _spec is not None and _spec.loader is not None
kind_manifests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kind_manifests)

# The shape of kind's pkg/build/nodeimage/const_cni.go: a raw-string manifest joined with
# image constants by `+`, and a Go template placeholder kind fills at `kind create cluster`.
GO_SOURCE = """package nodeimage

const kindnetdImage = "docker.io/kindest/kindnetd:v20260820-69b56db7"

var defaultCNIImages = []string{kindnetdImage}

const defaultCNIManifest = `
kind: DaemonSet
spec:
  containers:
  - image: ` + kindnetdImage + `
    env:
    - name: POD_SUBNET
      value: {{ .PodSubnet }}
`
"""


def test_raw_strings_are_joined_with_the_image_constants() -> None:
    constants = kind_manifests.read_constants(GO_SOURCE)
    assert constants["kindnetdImage"] == "docker.io/kindest/kindnetd:v20260820-69b56db7"
    manifest = constants["defaultCNIManifest"]
    assert "  - image: docker.io/kindest/kindnetd:v20260820-69b56db7\n    env:\n" in manifest
    assert manifest.endswith("value: {{ .PodSubnet }}\n")  # kind's own template, left for kind


def test_an_unknown_go_expression_is_named() -> None:
    with pytest.raises(ValueError, match="unexpected Go near"):
        kind_manifests.read_constants("const manifest = `a` + (b)\n")


def test_the_cni_manifest_runs_the_image_built_here() -> None:
    manifest = kind_manifests.cni_manifest("localhost/opscheck-kube-router:v2.1.0")
    assert kind_manifests.CNI_IMAGE_PLACEHOLDER not in manifest
    # the init container (CNI config) and kube-router itself
    assert manifest.count("image: localhost/opscheck-kube-router:v2.1.0\n") == 2
