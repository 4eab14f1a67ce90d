"""A kind cluster with real kubelets (testenv/kind/) for the lived-fault self-tests.

Every kind, podman and kubectl call goes through testenv/kind/tool.sh, which runs them the
way the build scripts do (podman provider, runc, cgroupfs, the cache's containers.conf).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KIND_SCRIPTS = REPO / "testenv" / "kind"


def script(name: str, *args: str, input_text: str | None = None, timeout: float = 300) -> str:
    """Run one of testenv/kind/'s scripts; its stdout, or an error naming the command."""
    proc = subprocess.run(
        [str(KIND_SCRIPTS / name), *args], input=input_text, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


class KindCluster:
    """One kind cluster by name, created by create-cluster.sh or reused when it exists."""

    def __init__(self, name: str) -> None:
        self.name = name
        # create-cluster.sh builds what is missing (minutes cold), then `kind create cluster`
        self.kubeconfig = Path(script("create-cluster.sh", name, timeout=1800).strip().splitlines()[-1])

    def kubectl(self, *args: str, input_text: str | None = None, timeout: float = 120) -> str:
        return script(
            "tool.sh", "kubectl", f"--kubeconfig={self.kubeconfig}", *args, input_text=input_text, timeout=timeout
        )

    def podman(self, *args: str) -> str:
        return script("tool.sh", "podman", *args)

    def load_image_archive(self, archive: str) -> None:
        script("tool.sh", "kind", "load", "image-archive", archive, "--name", self.name)

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))

    def delete(self, kind: str, name: str, namespace: str) -> None:
        self.kubectl("delete", kind, name, "-n", namespace, "--ignore-not-found", "--grace-period=0", "--force")

    def wait(self, condition: str, *objects: str, timeout: int = 180) -> None:
        self.kubectl("wait", f"--for={condition}", f"--timeout={timeout}s", *objects, timeout=timeout + 30)

    def worker_nodes(self) -> list[str]:
        return [
            node for node in script("tool.sh", "kind", "get", "nodes", "--name", self.name).split() if "worker" in node
        ]
