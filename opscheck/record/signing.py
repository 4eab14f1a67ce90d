"""Signatures over the audit record and its inputs: OpenSSH (`ssh-keygen -Y`) and/or HMAC-SHA256.

Used for each run's manifest and the ledger's head (opscheck/record/ledger.py) and for the
waivers and attestation files. A file's signatures sit next to it: `FILE.sig` (an armored
OpenSSH signature, namespace `opscheck-ledger` for the ledger, `opscheck-input` for waivers
and attestations) and `FILE.hmac` (hex HMAC-SHA256 over the namespace, a NUL and the bytes).

To sign a waivers file as an approver:

    ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n opscheck-input waivers.yaml   # writes waivers.yaml.sig

and list the approver's public key in the profile's `allowed_signers` file
(`jane.doe namespaces="opscheck-input" ssh-ed25519 AAAA...`).

The OpenSSH signature is the one an auditor can rely on (the key that signs cannot be
derived from the one that verifies); HMAC proves only that someone holding the shared key
wrote it.
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from dataclasses import dataclass
from pathlib import Path

from opscheck.errors import ProfileError
from opscheck.profile import Profile, Signing

LEDGER_NAMESPACE = "opscheck-ledger"
INPUT_NAMESPACE = "opscheck-input"
SSH_SUFFIX = ".sig"
HMAC_SUFFIX = ".hmac"
SIGNATURE_SUFFIXES = (SSH_SUFFIX, HMAC_SUFFIX)
SSH_KEYGEN_TIMEOUT = 30


class SigningError(ProfileError):
    """Signing failed (a key that cannot be read or used): the run cannot seal its record."""


def hmac_hex(key: bytes, namespace: str, data: bytes) -> str:
    return hmac.new(key, namespace.encode() + b"\0" + data, hashlib.sha256).hexdigest()


def _ssh_keygen(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["ssh-keygen", *args], input=data, capture_output=True, timeout=SSH_KEYGEN_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise ProfileError("ssh-keygen not found: install OpenSSH to sign or verify with ssh keys") from None
    except subprocess.TimeoutExpired:
        raise ProfileError(f"ssh-keygen took longer than {SSH_KEYGEN_TIMEOUT}s (a key with a passphrase?)") from None


def _first_line(out: bytes) -> str:
    lines = [line for line in out.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no reason given"


@dataclass(frozen=True)
class Signer:
    """What the run signs with: a private OpenSSH key and/or an HMAC key."""

    ssh_key: Path | None = None
    hmac_key: bytes | None = None

    @property
    def active(self) -> bool:
        return self.ssh_key is not None or self.hmac_key is not None

    def sign(self, data: bytes, namespace: str) -> dict[str, str]:
        """{"ssh": armored signature, "hmac": hex}, for the methods configured."""
        signatures: dict[str, str] = {}
        if self.ssh_key is not None:
            out = _ssh_keygen(["-Y", "sign", "-q", "-f", str(self.ssh_key), "-n", namespace], data)
            if out.returncode != 0:
                raise SigningError(f"cannot sign with {self.ssh_key}: {_first_line(out.stderr)}")
            signatures["ssh"] = out.stdout.decode()
        if self.hmac_key is not None:
            signatures["hmac"] = hmac_hex(self.hmac_key, namespace, data)
        return signatures

    def sign_file(self, path: Path, namespace: str) -> list[Path]:
        """Detached signatures next to `path`; the files written."""
        written = []
        for method, value in self.sign(path.read_bytes(), namespace).items():
            target = path.with_name(path.name + (SSH_SUFFIX if method == "ssh" else HMAC_SUFFIX))
            target.write_text(value if method == "ssh" else value + "\n", encoding="utf-8")
            written.append(target)
        return written


@dataclass(frozen=True)
class Verifier:
    """What signatures are checked with: an allowed_signers file and/or the HMAC key."""

    allowed_signers: Path | None = None
    hmac_key: bytes | None = None
    identity: str | None = None  # the principal the ledger's runs sign as

    @property
    def active(self) -> bool:
        return self.allowed_signers is not None or self.hmac_key is not None

    def methods(self) -> str:
        names = []
        if self.allowed_signers is not None:
            names.append(f"ssh ({self.identity or 'any allowed signer'}, {self.allowed_signers})")
        if self.hmac_key is not None:
            names.append("hmac")
        return " + ".join(names)

    def _ssh_problem(self, data: bytes, signature: str | None, namespace: str) -> str | None:
        assert self.allowed_signers is not None
        if not signature:
            return "no OpenSSH signature"
        sig_file = _temp_signature(signature)
        try:
            identity = self.identity
            if identity is None:  # any allowed signer: find whose key made it
                found = _ssh_keygen(["-Y", "find-principals", "-f", str(self.allowed_signers), "-s", sig_file], b"")
                if found.returncode != 0:
                    return "signed by a key that is not in allowed_signers"
                identity = found.stdout.decode().split()[0]
            out = _ssh_keygen(
                ["-Y", "verify", "-f", str(self.allowed_signers), "-I", identity, "-n", namespace, "-s", sig_file],
                data,
            )
        finally:
            Path(sig_file).unlink(missing_ok=True)
        if out.returncode != 0:
            return f"OpenSSH signature does not verify ({_first_line(out.stderr or out.stdout)})"
        return None

    def problem(self, data: bytes, signatures: dict[str, str | None], namespace: str) -> str | None:
        """None when every configured method verifies `data`; else why not (one line)."""
        if self.allowed_signers is not None:
            why = self._ssh_problem(data, signatures.get("ssh"), namespace)
            if why:
                return why
        if self.hmac_key is not None:
            mac = (signatures.get("hmac") or "").strip()
            if not mac:
                return "no HMAC"
            if not hmac.compare_digest(mac, hmac_hex(self.hmac_key, namespace, data)):
                return "HMAC does not match (changed, or signed with another key)"
        return None

    def file_problem(self, path: Path, namespace: str, *, any_method: bool = False) -> str | None:
        """None when the detached signatures next to `path` verify it.

        `any_method`: one valid signature by any configured method is enough (a waivers file
        signed by its approver's ssh key, or by whoever holds the HMAC key).
        """
        data = path.read_bytes()
        signatures = {
            "ssh": _read_optional(path.with_name(path.name + SSH_SUFFIX)),
            "hmac": _read_optional(path.with_name(path.name + HMAC_SUFFIX)),
        }
        if not any_method:
            return self.problem(data, signatures, namespace)
        problems = []
        for method in (
            Verifier(allowed_signers=self.allowed_signers) if self.allowed_signers else None,
            Verifier(hmac_key=self.hmac_key) if self.hmac_key else None,
        ):
            if method is None:
                continue
            why = method.problem(data, signatures, namespace)
            if why is None:
                return None
            problems.append(why)
        return "; ".join(problems) or None


def _read_optional(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _temp_signature(signature: str) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".sig", delete=False, encoding="utf-8") as f:
        f.write(signature)
        return f.name


def _hmac_key(signing: Signing) -> bytes | None:
    return signing.hmac_key.read().encode() if signing.hmac_key is not None else None


def signer_of(profile: Profile) -> Signer:
    signing = profile.reporting.signing
    ssh_key = profile.relative_path(signing.ssh_key) if signing.ssh_key else None
    if ssh_key is not None and not ssh_key.is_file():
        raise ProfileError(f"{profile.source}: reporting.signing.ssh_key: {ssh_key} does not exist")
    return Signer(ssh_key=ssh_key, hmac_key=_hmac_key(signing))


def verifier_of(profile: Profile, *, identity: bool = True) -> Verifier:
    """The profile's verifier; `identity=False` accepts any allowed signer (waivers, attestations)."""
    signing = profile.reporting.signing
    allowed = profile.relative_path(signing.allowed_signers) if signing.allowed_signers else None
    if allowed is not None and not allowed.is_file():
        raise ProfileError(f"{profile.source}: reporting.signing.allowed_signers: {allowed} does not exist")
    return Verifier(
        allowed_signers=allowed, hmac_key=_hmac_key(signing), identity=signing.identity if identity else None
    )


def require_signed(path: Path, verifier: Verifier, what: str) -> None:
    """ProfileError naming the file when it does not carry a valid signature."""
    why = verifier.file_problem(path, INPUT_NAMESPACE, any_method=True)
    if why:
        raise ProfileError(
            f"{path}: {what} not accepted: {why} (the profile requires signed inputs: "
            f"{path.name}{SSH_SUFFIX} from `ssh-keygen -Y sign -n {INPUT_NAMESPACE}`, or {path.name}{HMAC_SUFFIX})"
        )
