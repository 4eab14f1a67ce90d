"""Reading a profile: the YAML file validated into a Profile, then the files it names checked."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from opscheck.errors import ProfileError
from opscheck.profile.common import expand_path
from opscheck.profile.model import Profile
from opscheck.profile.yamlfile import load_model

# The environment variable naming the profile when --env is not given.
ENV_VAR = "OPSCHECK_ENV"


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile; raise ProfileError with a one-line message."""
    p = Path(path)
    profile = load_model(p, Profile, "profile")
    profile = profile.model_copy(update={"source": str(p)})
    _check_references(profile)
    return profile


def _check_references(profile: Profile) -> None:
    """Files the profile names must exist now, not half-way through the run."""
    src = profile.source
    for i, cluster in enumerate(profile.clusters):
        kc = cluster.kubeconfig_path
        where = f"{src}: clusters[{i}].kubeconfig"
        if not kc.is_file():
            raise ProfileError(f"{where}: {kc} does not exist")
        try:
            doc = yaml.safe_load(kc.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ProfileError(f"{where}: {kc} is not a readable kubeconfig ({exc.__class__.__name__})") from None
        contexts = [c.get("name") for c in (doc or {}).get("contexts") or []]
        if cluster.context and cluster.context not in contexts:
            raise ProfileError(
                f"{src}: clusters[{i}].context: {cluster.context!r} is not in {kc} "
                f"(contexts: {', '.join(map(str, contexts)) or 'none'})"
            )
        if not cluster.context and not (doc or {}).get("current-context"):
            raise ProfileError(f"{src}: clusters[{i}].context: not set and {kc} has no current-context")
    if profile.postgres and profile.postgres.passfile and not expand_path(profile.postgres.passfile).is_file():
        raise ProfileError(f"{src}: postgres.passfile: {expand_path(profile.postgres.passfile)} does not exist")
