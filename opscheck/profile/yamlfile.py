"""YAML files validated into pydantic models, every problem one line naming the file.

Shared by the profile, the waivers file and the attestation files: `<file>: <key.path>:
<problem>` (or `<file>: line L, column C: malformed YAML: ...`), raised as ProfileError
so the run stops before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from opscheck.errors import ProfileError
from opscheck.yamlparse import parse_yaml

M = TypeVar("M", bound=BaseModel)
# Plain words for pydantic's error types the operator sees most.
MESSAGES = {"extra_forbidden": "unknown key", "missing": "required key is missing"}


def key_path(loc: tuple[Any, ...]) -> str:
    """`clusters[0].name` from pydantic's ('clusters', 0, 'name')."""
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def first_error(exc: ValidationError, explain: Callable[[ErrorDetails], str | None] | None = None) -> str:
    """`key.path: problem (and N more problems)`; `explain` may word an error its own way."""
    err = exc.errors()[0]
    # Pydantic adds the failing union/validator branch to the location; keep the user's path.
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = (explain(err) if explain else None) or MESSAGES.get(err["type"]) or err["msg"].removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    # A whole-model rule names its keys itself ("clusters: duplicate name(s) ...").
    return f"{key_path(loc)}: {msg}{suffix}" if loc else f"{msg}{suffix}"


def read_text(path: Path, what: str) -> str:
    """The file's text; ProfileError naming the file when it is missing, unreadable or binary."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise ProfileError(f"{path}: {what} is a directory, not a file") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: {what} is not UTF-8 text (byte {exc.start}): a binary file?") from None


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document; ProfileError naming the file (and the line) when it cannot be."""
    text = read_text(path, what)
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(f"{path}: {where}malformed YAML: {problem}") from None


def load_model(
    path: Path,
    model: type[M],
    what: str,
    *,
    list_key: str | None = None,
    explain: Callable[[ErrorDetails], str | None] | None = None,
) -> M:
    """`path` read as YAML and validated as `model`; ProfileError with one line on any problem.

    `what` names the file in messages ("profile", "waivers file"). With `list_key`, a file
    holding a bare list is read as `{list_key: [...]}`; without, the file must be a mapping.
    """
    data = read_yaml(path, what)
    if list_key is not None and not isinstance(data, dict):
        data = {list_key: data}
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a {what} is a YAML mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{path}: {first_error(exc, explain)}") from None
