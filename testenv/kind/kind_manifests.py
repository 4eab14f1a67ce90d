"""Writes kind's default CNI (kindnetd) and storage (local-path-provisioner) manifests.

`kind build node-image` writes them to /kind/manifests/ in the node image; `kind create
cluster` reads them back from the node (installcni / installstorage actions). They live in
the kind module as Go string constants (pkg/build/nodeimage/const_cni.go, const_storage.go),
joined with image-name constants; this reads those constants from the module's source, so
the manifests and image tags stay exactly kind's.

Usage: python3 kind_manifests.py KIND_MODULE_DIR OUT_DIR   (prints the image names)
"""

import re
import sys
from pathlib import Path

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


def main(kind_module: Path, out_dir: Path) -> None:
    nodeimage = kind_module / "pkg/build/nodeimage"
    source = "\n".join((nodeimage / name).read_text() for name in ("const_cni.go", "const_storage.go"))
    constants = read_constants(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "default-cni.yaml").write_text(constants["defaultCNIManifest"])
    (out_dir / "default-storage.yaml").write_text(constants["defaultStorageManifest"])
    for name in ("kindnetdImage", "storageProvisionerImage", "storageHelperImage"):
        print(f"{name}={constants[name]}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: kind_manifests.py KIND_MODULE_DIR OUT_DIR")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
