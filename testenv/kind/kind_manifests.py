"""Writes the kind nodes' default CNI (kube-router) and storage (local-path-provisioner) manifests.

`kind build node-image` writes them to /kind/manifests/ in the node image; `kind create
cluster` reads them back from the node (installcni / installstorage actions).

Storage: kind's own, from the kind module's Go string constants (pkg/build/nodeimage/
const_storage.go, joined with image-name constants), so manifest and image tags stay exactly
kind's. CNI: kube-router.yaml beside this script with the image built here. kind's own CNI,
kindnetd, is not used: its source is not on the Go module proxy (testenv/kind/README.md).

Usage: python3 kind_manifests.py KIND_MODULE_DIR OUT_DIR CNI_IMAGE   (prints the storage image names)
"""

import re
import sys
from pathlib import Path

CNI_MANIFEST = Path(__file__).resolve().parent / "kube-router.yaml"
CNI_IMAGE_PLACEHOLDER = "KUBE_ROUTER_IMAGE"
SIMPLE_CONST = re.compile(r'^const (\w+) = "([^"]*)"$', re.MULTILINE)


def read_constants(source: str) -> dict[str, str]:
    """Every Go `const NAME = ...` of double-quoted strings and raw strings joined by `+`."""
    constants = dict(SIMPLE_CONST.findall(source))
    for match in re.finditer(r"^const (\w+) = `", source, re.MULTILINE):
        position = match.end() - 1
        parts: list[str] = []
        while True:
            if source[position] == "`":
                end = source.index("`", position + 1)
                parts.append(source[position + 1 : end])
                position = end + 1
            else:
                identifier = re.match(r"\w+", source[position:])
                if identifier is None:
                    raise ValueError(f"unexpected Go near {source[position : position + 40]!r}")
                parts.append(constants[identifier.group()])
                position += identifier.end()
            joined = re.match(r"[ \t]*\+[ \t]*", source[position:])
            if joined is None:
                break
            position += joined.end()
        constants[match.group(1)] = "".join(parts)
    return constants


def cni_manifest(image: str) -> str:
    """kube-router.yaml with its image."""
    return CNI_MANIFEST.read_text().replace(CNI_IMAGE_PLACEHOLDER, image)


def main(kind_module: Path, out_dir: Path, cni_image: str) -> None:
    constants = read_constants((kind_module / "pkg/build/nodeimage/const_storage.go").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "default-cni.yaml").write_text(cni_manifest(cni_image))
    (out_dir / "default-storage.yaml").write_text(constants["defaultStorageManifest"])
    for name in ("storageProvisionerImage", "storageHelperImage"):
        print(f"{name}={constants[name]}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: kind_manifests.py KIND_MODULE_DIR OUT_DIR CNI_IMAGE")
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
