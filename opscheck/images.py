"""Container image references, spelled one way, and the severities scanners report.

A leaf: both the scan-report readers (opscheck/sources/image_scans.py) and the judgments
(opscheck/rules/image_scans.py) match images by these names.
"""

from __future__ import annotations

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
DOCKER_HUB = "docker.io"


def normalize_image(ref: str) -> str:
    """One spelling per image: `postgres:16.4`, `docker.io/library/postgres:16.4` and
    `index.docker.io/library/postgres:16.4` are all `docker.io/library/postgres:16.4`.
    A digest is dropped when there is a tag (the tag is what scanners and pods name)."""
    ref = ref.strip()
    name, _, digest = ref.partition("@")
    head, _, rest = name.partition("/")
    if rest and ("." in head or ":" in head or head == "localhost"):
        registry, path = head, rest
    else:
        registry, path = DOCKER_HUB, name
    if registry in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        registry = DOCKER_HUB
    repo, _, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    if registry == DOCKER_HUB and "/" not in repo:
        repo = f"library/{repo}"
    if tag:
        return f"{registry}/{repo}:{tag}"
    return f"{registry}/{repo}@{digest}" if digest else f"{registry}/{repo}:latest"
