"""Unit tests of the profile's own validation: the `required:` vocabulary and the shared
YAML-to-model loader (the profile, waivers and attestation files all read through it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from opscheck.errors import ProfileError
from opscheck.profile import COMPONENTS, Profile, load_model, load_profile

ROOT = Path(__file__).resolve().parents[2]
# Where each helper takes the component's name: component_absent(required, NAME, reason),
# configured(value, required, NAME, reason), custom_objects(cluster, required, kinds, NAME, what).
COMPONENT_ARG = {"component_absent": 1, "configured": 2, "custom_objects": 3}


def components_named_in_code() -> dict[str, str]:
    """Every component name the checks, fixtures and library pass as a literal, with where."""
    found: dict[str, str] = {}
    files = [*ROOT.glob("opscheck/**/*.py"), *ROOT.glob("fixtures/*.py"), *ROOT.glob("tests_*/**/*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name not in COMPONENT_ARG:
                continue
            args = [
                *node.args[COMPONENT_ARG[name] : COMPONENT_ARG[name] + 1],
                *(k.value for k in node.keywords if k.arg == "component"),
            ]
            for arg in args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.setdefault(arg.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_component_the_code_names_is_in_the_vocabulary_and_back():
    named = components_named_in_code()
    assert {n: where for n, where in named.items() if n not in COMPONENTS} == {}
    assert sorted(set(COMPONENTS) - set(named)) == []


def minimal(**extra) -> dict:
    return {"name": "x", "clusters": [{"name": "a"}], **extra}


def test_required_accepts_the_known_components():
    assert Profile.model_validate(minimal(required=["vault", "log_indices", "cert-manager"])).required == [
        "vault",
        "log_indices",
        "cert-manager",
    ]


@pytest.mark.parametrize("name", ["vaultt", "elasticsearch", "Vault"])
def test_an_unknown_required_component_stops_the_run_naming_it_and_the_known_ones(tmp_path, name):
    path = tmp_path / "p.yaml"
    path.write_text(f"name: x\nclusters: [{{name: a}}]\nrequired: [vault, {name}]\n")
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: required[1]: unknown component {name!r} (known: argocd, attestations, ")
    assert "log_indices" in message and "volumes)" in message and "\n" not in message


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int


class Items(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("items: [{name: a, size: 1}, {name: b}]\n", "items[1].size: required key is missing"),
        ("items: [{name: a, size: 1, colour: red}]\n", "items[0].colour: unknown key"),
        ("items: [{size: x}]\n", "items[0].name: required key is missing (and 1 more problem)"),
        (
            "items: [{name: a, size: 1}\n",
            "line 2, column 1: malformed YAML: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "[{name: a, size: one}]\n",
            "items[0].size: Input should be a valid integer, unable to parse string as an integer",
        ),
    ],
)
def test_a_bad_yaml_file_is_one_line_with_its_key_path(tmp_path, text, expected):
    path = tmp_path / "items.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as exc:
        load_model(path, Items, "items file", list_key="items")
    assert str(exc.value) == f"{path}: {expected}"


def test_the_loader_reads_bare_lists_and_names_missing_files_and_non_mappings(tmp_path):
    path = tmp_path / "items.yaml"
    path.write_text("- {name: a, size: 1}\n")
    assert load_model(path, Items, "items file", list_key="items").items == [Item(name="a", size=1)]
    with pytest.raises(ProfileError, match=r"nowhere.yaml: items file not found$"):
        load_model(tmp_path / "nowhere.yaml", Items, "items file")
    with pytest.raises(ProfileError, match=r"items.yaml: a items file is a YAML mapping, got list$"):
        load_model(path, Items, "items file")


def test_a_cluster_entry_gives_its_checks_its_own_namespaces_and_vault():
    """Runbook 004's clusters differ (the platform in mgmt, the app in app1/app2): each
    cluster's checks see its own list, so a namespace missing in one is not hidden by the
    union; a cluster without its own keeps the profile's, and a single-cluster profile is
    the same object."""
    profile = Profile.model_validate(
        {
            "name": "p",
            "clusters": [
                {"name": "mgmt", "namespaces": ["argocd"], "vault": {"address": "http://vault.mgmt:8200"}},
                {"name": "app1", "namespaces": ["app"]},
                {"name": "other"},
            ],
            "namespaces": ["argocd", "app"],
            "vault": {"address": "http://vault:8200"},
        }
    )
    assert profile.for_cluster("mgmt").namespaces == ["argocd"]
    assert profile.for_cluster("mgmt").vault.address == "http://vault.mgmt:8200"
    assert (profile.for_cluster("app1").namespaces, profile.for_cluster("app1").vault.address) == (
        ["app"],
        "http://vault:8200",
    )
    assert profile.for_cluster("other") is profile
    assert (
        load_profile(ROOT / "environments" / "demo.yaml").for_cluster("demo").namespaces
        == load_profile(ROOT / "environments" / "demo.yaml").namespaces
    )


def test_host_placeholders_keep_hosts_on_one_machine_apart():
    from opscheck.profile import EtcdBackups, NodeDisk

    assert EtcdBackups(directory="/srv/{host}/etcd").path_on("mgmt-cp") == "/srv/mgmt-cp/etcd"
    assert EtcdBackups().path_on("mgmt-cp") == "/var/backups/etcd"
    assert NodeDisk(paths=["/", "/srv/{host}/fs"]).paths_on("a") == ["/", "/srv/a/fs"]
