"""YAML text parsed strictly: one parser for every file opscheck reads (profiles, waivers,
attestations, kubeconfigs, runbook items).

A leaf: the profile loader and the runbook reader both use it.
"""

from __future__ import annotations

from typing import Any

import yaml


class _StrictConstruction:
    """The safe constructor refusing a mapping key given twice (the safe loader keeps the
    last one silently: a typo'd duplicate would quietly override a setting); with dates and
    times left as text, so the model parses them and an impossible date (2027-02-30) is a
    validation error naming its key instead of a ValueError out of the YAML parser."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the safe loader's own error follows
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class StrictLoader(_StrictConstruction, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, strict (above): its error wording is the clearer."""


# libyaml's parser, where PyYAML was built with it: about ten times faster on the runbook
# and profile files every run reads; same constructor, so the same documents.
_FastLoader: type = type("StrictCLoader", (_StrictConstruction, getattr(yaml, "CSafeLoader", yaml.SafeLoader)), {})
for _loader in {StrictLoader, _FastLoader}:
    _loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def parse_yaml(text: str) -> Any:
    """`text` parsed strictly (yaml.YAMLError on malformed YAML or a duplicate key). Parsed
    with libyaml; a document it refuses is parsed again in Python for the error's wording."""
    try:
        return yaml.load(text, Loader=_FastLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader)
