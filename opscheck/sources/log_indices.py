"""Reading log indices from Elasticsearch/OpenSearch (002 weekly: "오래된 인덱스 삭제 (30일
이상)"): one `GET _cat/indices/<patterns>?format=json` per run; nothing is deleted.
Their ages and the retention judgment: opscheck/rules/log_indices.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from opscheck.errors import DependencyError
from opscheck.profile import LogIndices
from opscheck.sources.http import bad_status, new_session, not_json, unanswered
from opscheck.sources.runcache import RunCache

CAT_COLUMNS = "index,status,creation.date,creation.date.string,docs.count,store.size"


class IndexReader:
    """GET _cat/indices from the configured Elasticsearch/OpenSearch, nothing else."""

    def __init__(self, config: LogIndices, outages: RunCache | None = None) -> None:
        self.config = config
        self.where = f"Elasticsearch at {config.url}"
        self.session = new_session(config.timeout_seconds, outages)

    def cat_indices(self) -> list[dict[str, Any]]:
        c = self.config
        targets = ",".join(quote(p, safe="*-_.") for p in c.patterns)
        # open and closed: a closed index still holds its disk; hidden ones are not logs.
        params = {"format": "json", "h": CAT_COLUMNS, "bytes": "b", "expand_wildcards": "open,closed"}
        auth = (c.username, c.password.read() if c.password else "") if c.username else None
        try:
            r = self.session.get(
                f"{c.url}/_cat/indices/{targets}",
                params=params,
                auth=auth,
                verify=c.ca_file or True,
                timeout=c.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise unanswered(self.where, exc, c.timeout_seconds) from None
        if r.status_code in (401, 403):
            raise bad_status(
                self.where,
                r.status_code,
                "GET _cat/indices",
                "the credentials were rejected or lack the monitor privilege",
            )
        if r.status_code == 404:  # a concrete name (no wildcard) that does not exist
            return []
        if r.status_code != 200:
            raise bad_status(self.where, r.status_code, "GET _cat/indices")
        try:
            rows = r.json()
        except ValueError:
            raise not_json(self.where, "GET _cat/indices", r.status_code) from None
        if not isinstance(rows, list):
            raise DependencyError(f"{self.where}: GET _cat/indices answered {type(rows).__name__}, not a list")
        return rows
