"""Reading Vault/OpenBao state through hvac: seal status, health, audit devices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import hvac
import requests
from hvac.exceptions import Forbidden, InvalidRequest, Unauthorized, VaultError

from opscheck.errors import DependencyError
from opscheck.profile import VaultConfig, expand_path
from opscheck.sources.http import new_session, unanswered
from opscheck.sources.runcache import RunCache
from opscheck.sources.vault_audit import newest_entry_time


class VaultReader:
    def __init__(self, config: VaultConfig, outages: RunCache | None = None) -> None:
        self.config = config
        verify: bool | str = str(expand_path(config.ca_cert)) if config.ca_cert else True
        self.where = f"Vault at {config.address}"
        # no retries, a total deadline per request, the run's known outages (sources/http.py)
        session = new_session(config.timeout_seconds, outages)
        session.verify = verify  # hvac takes a given session's verify over its own argument
        self.client = hvac.Client(url=config.address, timeout=config.timeout_seconds, verify=verify, session=session)

    def newest_audit_entry(self, log_file: str) -> datetime | None:
        """The time of the newest entry of the file audit device's log (read from the file)."""
        return newest_entry_time(log_file)

    def _call(self, what: str, fn, *args, **kwargs) -> Any:
        try:
            return fn(*args, **kwargs)
        except requests.RequestException as exc:
            raise unanswered(self.where, exc, self.config.timeout_seconds) from None
        except (Unauthorized, Forbidden):
            raise DependencyError(
                f"Vault at {self.config.address}: the token from {self.config.token.describe() if self.config.token else 'nowhere'} is not allowed to {what}"
            ) from None
        except (InvalidRequest, VaultError) as exc:
            first = str(exc).splitlines()[0][:200]
            raise DependencyError(f"Vault at {self.config.address}: {what} failed: {first}") from None

    def health(self) -> dict[str, Any]:
        """sys/health as JSON whatever the state (initialized, sealed, standby)."""
        return self._call(
            "read health",
            self.client.sys.read_health_status,
            method="GET",
            standby_ok=False,
            standby_code=200,
            sealed_code=200,
            uninit_code=200,
            performance_standby_code=200,
            dr_secondary_code=200,
        )

    def seal_status(self) -> dict[str, Any]:
        return self._call("read seal status", self.client.sys.read_seal_status)

    def audit_devices(self) -> dict[str, Any]:
        if self.config.token is None:
            raise DependencyError("vault.token is not set in the profile: cannot list audit devices")
        self.client.token = self.config.token.read()
        answer = self._call("list audit devices", self.client.sys.list_enabled_audit_devices)
        return answer.get("data", answer)
