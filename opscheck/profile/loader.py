"""Reading a profile: the YAML file validated into a Profile, then the files it names checked."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import SERVICE_HOST_ENV_NAME, SERVICE_PORT_ENV_NAME
from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger
from pydantic import BaseModel

from opscheck.errors import ProfileError
from opscheck.profile.clusters import ClusterConfig, serviceaccount_dir
from opscheck.profile.common import SecretRef, expand_path
from opscheck.profile.model import Profile
from opscheck.profile.yamlfile import load_model, parse_yaml, read_text

# The environment variable naming the profile when --env is not given.
ENV_VAR = "OPSCHECK_ENV"
# Profile fields holding the URL of an HTTP service: by name, wherever they are.
URL_SCHEMES = ("http", "https")
# scheme://[user[:password]@]host[:port][/...]: the scheme and the authority.
_URL = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):)?(?://(?P<authority>[^/?#]*))?")


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile; raise ProfileError with a one-line message."""
    p = Path(path)
    profile = load_model(p, Profile, "profile")
    profile = profile.model_copy(update={"source": str(p)})
    _check_urls(profile)
    _check_references(profile)
    return profile


def walk(model: BaseModel, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(key path, field name, value) of every field set in `model` and the models inside it."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        where = f"{path}.{name}" if path else name
        yield where, name, value
        items: list[tuple[str, Any]] = []
        if isinstance(value, BaseModel):
            items = [(where, value)]
        elif isinstance(value, list | tuple):
            items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, dict):
            items = [(f"{where}.{k}", v) for k, v in value.items()]
        for sub_path, sub in items:
            if isinstance(sub, BaseModel):
                yield from walk(sub, sub_path)


def is_url_field(name: str) -> bool:
    return name in ("url", "address") or name.endswith("_url")


def _check_urls(profile: Profile) -> None:
    """Every URL a check connects to is http:// or https:// with a host (`htp://` is a typo,
    not a scheme some client may guess at half-way through the run)."""
    for where, name, value in walk(profile):
        if not (is_url_field(name) and isinstance(value, str)):
            continue
        match = _URL.match(value.strip())
        scheme = (match.group("scheme") if match else None) or ""
        authority = (match.group("authority") if match else None) or ""
        host = (
            authority.rpartition("@")[2].split(":")[0] if not authority.rpartition("@")[2].startswith("[") else "ipv6"
        )
        if scheme.lower() not in URL_SCHEMES:
            raise ProfileError(
                f"{profile.source}: {where}: scheme {scheme + '://' if scheme else '(none)'} is not http:// or https://"
            )
        if not host:
            raise ProfileError(f"{profile.source}: {where}: no host in the URL")


def check_secrets(profile: Profile) -> None:
    """Every secret the profile names can be read now: a missing environment variable or
    file stops the run at start (exit 4), not one check's error half-way through."""
    for where, _, value in walk(profile):
        if isinstance(value, SecretRef):
            try:
                value.read()
            except ProfileError as exc:
                raise ProfileError(f"{profile.source}: {where}: {exc}") from None


def _check_references(profile: Profile) -> None:
    """Files the profile names must exist now, not half-way through the run."""
    src = profile.source
    for i, cluster in enumerate(profile.clusters):
        if cluster.in_cluster:
            _check_serviceaccount(f"{src}: clusters[{i}].in_cluster")
        else:
            _check_kubeconfig(f"{src}: clusters[{i}]", cluster)
    if profile.postgres and profile.postgres.passfile and not expand_path(profile.postgres.passfile).is_file():
        raise ProfileError(f"{src}: postgres.passfile: {expand_path(profile.postgres.passfile)} does not exist")


def _check_serviceaccount(where: str) -> None:
    """What the client's in-cluster loader reads: the mount's token and CA, the service variables."""
    mount = serviceaccount_dir()
    for name, what in (("token", "ServiceAccount token"), ("ca.crt", "cluster CA certificate")):
        if not (mount / name).is_file():
            raise ProfileError(f"{where}: no {what} at {mount / name} (not running in a pod?)")
    unset = [v for v in (SERVICE_HOST_ENV_NAME, SERVICE_PORT_ENV_NAME) if not os.environ.get(v)]
    if unset:
        raise ProfileError(f"{where}: {' and '.join(unset)} not set (not running in a pod?)")


def _check_kubeconfig(where_cluster: str, cluster: ClusterConfig) -> None:
    """Each kubeconfig file parses, and the client's own loader resolves the context (over
    the merge of $KUBECONFIG's files, as the run will)."""
    where = f"{where_cluster}.{cluster.kubeconfig_origin}"
    files = cluster.kubeconfig_files
    present = [kc for kc in files if kc.is_file()]
    if not present:
        raise ProfileError(f"{where}: {os.pathsep.join(map(str, files))} does not exist")
    contexts: list[object] = []
    current = False
    for kc in present:
        try:
            doc = parse_yaml(read_text(kc, "kubeconfig"))
        except ProfileError as exc:
            raise ProfileError(f"{where}: {exc}") from None
        except yaml.YAMLError:
            raise ProfileError(f"{where}: {kc} is not a readable kubeconfig (malformed YAML)") from None
        if not isinstance(doc, dict):
            raise ProfileError(f"{where}: {kc} is not a kubeconfig (a YAML mapping), got {type(doc).__name__}")
        if not isinstance(doc.get("contexts") or [], list):
            raise ProfileError(f"{where}: {kc}: contexts must be a list, got {type(doc['contexts']).__name__}")
        contexts += [c.get("name") if isinstance(c, dict) else c for c in doc.get("contexts") or []]
        current = current or bool(doc.get("current-context"))
    named = os.pathsep.join(map(str, present))
    if cluster.context and cluster.context not in contexts:
        raise ProfileError(
            f"{where_cluster}.context: {cluster.context!r} is not in {named} "
            f"(contexts: {', '.join(map(str, contexts)) or 'none'})"
        )
    if not cluster.context and not current:
        raise ProfileError(f"{where_cluster}.context: not set and {named} has no current-context")
    try:
        merged = KubeConfigMerger(os.pathsep.join(map(str, present))).config
        KubeConfigLoader(config_dict=merged, active_context=cluster.context, config_base_path=None)
    except ConfigException as exc:
        raise ProfileError(f"{where}: {named}: {str(exc).strip().splitlines()[0]}") from None
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise ProfileError(f"{where}: {named} is not a valid kubeconfig ({exc.__class__.__name__}: {exc})") from None
