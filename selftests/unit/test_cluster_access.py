"""How a profile's cluster is reached: `in_cluster: true` (the pod's ServiceAccount mount),
a kubeconfig key, or kubectl's rule ($KUBECONFIG's files, then ~/.kube/config). Every bad
combination or missing piece is one line naming the cluster entry; the client is built by
the kubernetes library's own loaders (no request is sent here)."""

from __future__ import annotations

import os

import pytest

from opscheck.errors import ProfileError
from opscheck.profile import load_profile
from opscheck.profile.clusters import SERVICEACCOUNT_DIR_VAR
from opscheck.sources.kube import KubeCluster
from opscheck.sources.runcache import RunCache
from selftests.pluginsuite import KUBECONFIG

OTHER_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: far, cluster: {server: "https://10.1.2.3:6443", insecure-skip-tls-verify: true}}]
users: [{name: far, user: {token: far-token}}]
contexts: [{name: far-ctx, context: {cluster: far, user: far}}]
"""


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No kubeconfig or pod variables from the machine running the tests; HOME is empty."""
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", SERVICEACCOUNT_DIR_VAR):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return monkeypatch


@pytest.fixture
def mount(clean_env, tmp_path):
    """A directory laid out like /var/run/secrets/kubernetes.io/serviceaccount."""
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text("sa-token")
    (directory / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
    (directory / "namespace").write_text("opscheck-system")
    clean_env.setenv(SERVICEACCOUNT_DIR_VAR, str(directory))
    clean_env.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    clean_env.setenv("KUBERNETES_SERVICE_PORT", "443")
    return directory


def profile_file(tmp_path, cluster: str):
    path = tmp_path / "p.yaml"
    path.write_text(f"name: x\nclusters: [{cluster}]\n")
    return path


def one_line_error(path) -> str:
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("entry", "given"),
    [
        ("{name: a, in_cluster: true, kubeconfig: /k}", "kubeconfig"),
        ("{name: a, in_cluster: true, context: prod}", "context"),
        ("{name: a, in_cluster: true, kubeconfig: /k, context: prod}", "kubeconfig and context"),
    ],
)
def test_in_cluster_and_a_kubeconfig_are_one_or_the_other(tmp_path, mount, entry, given):
    path = profile_file(tmp_path, entry)
    assert one_line_error(path) == (
        f"{path}: clusters[0]: in_cluster: true reads the pod's ServiceAccount, so {given} cannot be set too: "
        "give one or the other"
    )


def test_in_cluster_outside_a_pod_names_the_missing_token(tmp_path, clean_env):
    path = profile_file(tmp_path, "{name: a, in_cluster: true}")
    assert one_line_error(path) == (
        f"{path}: clusters[0].in_cluster: no ServiceAccount token at "
        "/var/run/secrets/kubernetes.io/serviceaccount/token (not running in a pod?)"
    )


def test_in_cluster_names_a_missing_ca_and_unset_service_variables(tmp_path, mount, clean_env):
    path = profile_file(tmp_path, "{name: a, in_cluster: true}")
    clean_env.delenv("KUBERNETES_SERVICE_PORT")
    assert one_line_error(path) == (
        f"{path}: clusters[0].in_cluster: KUBERNETES_SERVICE_PORT not set (not running in a pod?)"
    )
    (mount / "ca.crt").unlink()
    assert one_line_error(path) == (
        f"{path}: clusters[0].in_cluster: no cluster CA certificate at {mount / 'ca.crt'} (not running in a pod?)"
    )


def test_in_cluster_builds_the_client_from_the_mount_and_the_service_variables(tmp_path, mount):
    profile = load_profile(profile_file(tmp_path, "{name: a, in_cluster: true}"))
    (config,) = profile.clusters
    assert config.access() == f"in-cluster ServiceAccount ({mount})"
    api = KubeCluster(config, RunCache(tmp_path / "cache"))._api()
    assert api.configuration.host == "https://10.96.0.1:443"
    assert api.configuration.ssl_ca_cert == str(mount / "ca.crt")
    assert api.configuration.get_api_key_with_prefix("authorization") == "bearer sa-token"


def test_kubeconfig_defaults_to_every_file_of_KUBECONFIG_merged_by_the_client(tmp_path, clean_env):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(KUBECONFIG)
    second.write_text(OTHER_KUBECONFIG)
    missing = tmp_path / "missing.yaml"  # kubectl skips a listed file that is not there
    clean_env.setenv("KUBECONFIG", os.pathsep.join(map(str, [missing, first, second])))
    profile = load_profile(profile_file(tmp_path, "{name: a, context: far-ctx}"))
    (config,) = profile.clusters
    assert config.kubeconfig_files == [missing, first, second]
    api = KubeCluster(config, RunCache(tmp_path / "cache"))._api()
    assert api.configuration.host == "https://10.1.2.3:6443"
    # no context: the current-context of the merge (first.yaml's)
    (config,) = load_profile(profile_file(tmp_path, "{name: a}")).clusters
    assert KubeCluster(config, RunCache(tmp_path / "cache2"))._api().configuration.host == "https://127.0.0.1:9"


def test_a_missing_kubeconfig_says_where_its_path_came_from(tmp_path, clean_env):
    path = profile_file(tmp_path, "{name: a}")
    home = os.environ["HOME"]
    assert one_line_error(path) == (
        f"{path}: clusters[0].kubeconfig (default ~/.kube/config): {home}/.kube/config does not exist"
    )
    clean_env.setenv("KUBECONFIG", f"{tmp_path}/a{os.pathsep}{tmp_path}/b")
    assert one_line_error(path) == (
        f"{path}: clusters[0].kubeconfig (from $KUBECONFIG): {tmp_path}/a{os.pathsep}{tmp_path}/b does not exist"
    )
    (tmp_path / "b").write_text(OTHER_KUBECONFIG)
    assert one_line_error(path) == f"{path}: clusters[0].context: not set and {tmp_path}/b has no current-context"
    # the profile's own key wins over $KUBECONFIG
    path = profile_file(tmp_path, f"{{name: a, kubeconfig: {tmp_path}/c}}")
    assert one_line_error(path) == f"{path}: clusters[0].kubeconfig: {tmp_path}/c does not exist"


def test_one_client_per_cluster_per_run(tmp_path, clean_env):
    """Every KubeCluster of a cluster in a run (one per check, one per read ahead) shares the
    run's client, so the kubeconfig is loaded and its connections opened once; another run
    (another RunCache) or another cluster gets its own."""
    kubeconfig = tmp_path / "config.yaml"
    kubeconfig.write_text(OTHER_KUBECONFIG)
    entry = f"kubeconfig: {kubeconfig}, context: far-ctx"
    a, b = load_profile(profile_file(tmp_path, f"{{name: a, {entry}}}, {{name: b, {entry}}}")).clusters
    run, other_run = RunCache(tmp_path / "cache"), RunCache(tmp_path / "cache2")
    client = KubeCluster(a, run)._api()
    assert KubeCluster(a, run, (b,))._api() is client
    assert KubeCluster(a, run, ahead=True)._api() is client
    assert KubeCluster(b, run)._api() is not client
    assert KubeCluster(a, other_run)._api() is not client
