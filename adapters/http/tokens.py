"""Portal access tokens: stored hashed in the read database, looked up by id.

A token reads ``cbk_<id>_<secret>``. The table keeps the id, the SHA-256 of the
secret, the role and (for installers) the company's customer number; the
secret itself is printed once and never stored. Verification looks the row up
by id and compares the digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from projections.db import ProjectionDB

PREFIX = "cbk"
_TOKEN = re.compile(r"^cbk_([0-9a-f]{12})_([A-Za-z0-9_-]{32,64})$")

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS portal_tokens ("
    " token_id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, role TEXT NOT NULL,"
    " customer_no TEXT, name TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, revoked_at TEXT)"
)


class Role(StrEnum):
    INSTALLER = "installer"
    STAFF = "staff"
    FINANCE = "finance"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id, its role, and for an installer its company."""

    token_id: str
    role: Role
    customer_no: str | None
    name: str
    secret_sha256: str

    @property
    def is_installer(self) -> bool:
        return self.role is Role.INSTALLER

    def csrf_token(self) -> str:
        """Per-session anti-CSRF token: derived from the stored digest, unknown without the token."""
        return hmac.new(bytes.fromhex(self.secret_sha256), b"csrf:" + self.token_id.encode(), "sha256").hexdigest()


@dataclass(frozen=True, slots=True)
class TokenRow:
    token_id: str
    role: str
    customer_no: str | None
    name: str
    created_at: str
    revoked_at: str | None


class TokenError(ValueError):
    pass


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    def __init__(self, db: ProjectionDB) -> None:
        self.db = db
        with db.schema_transaction() as cur:
            cur.execute(CREATE_TABLE)

    def create(self, role: Role | str, customer_no: str | None = None, name: str = "",
               now: datetime | None = None) -> tuple[str, str]:
        """Store a new token; returns (token id, the full token, to be shown once)."""
        role = Role(role)
        if role is Role.INSTALLER and not customer_no:
            raise TokenError("an installer token needs the company's customer number")
        if role is not Role.INSTALLER and customer_no:
            raise TokenError(f"a {role} token is not tied to a company")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO portal_tokens (token_id, secret_sha256, role, customer_no, name, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (token_id, _digest(secret), str(role), customer_no, name, created),
            )
        return token_id, f"{PREFIX}_{token_id}_{secret}"

    def revoke(self, token_id: str, now: datetime | None = None) -> bool:
        at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        with self.db.transaction() as cur:
            result = cur.execute(
                "UPDATE portal_tokens SET revoked_at = %s WHERE token_id = %s AND revoked_at IS NULL", (at, token_id)
            )
            return bool(result.rowcount)

    def list(self) -> list[TokenRow]:
        rows = self.db.query(
            "SELECT token_id, role, customer_no, name, created_at, revoked_at FROM portal_tokens ORDER BY created_at"
        )
        return [TokenRow(*r) for r in rows]

    def verify(self, token: str, db: ProjectionDB | None = None) -> Principal | None:
        """The principal of a valid, unrevoked token; None otherwise (never says which part was wrong)."""
        match = _TOKEN.match(token.strip())
        if match is None:
            return None
        token_id, secret = match.groups()
        rows = (db or self.db).query(
            "SELECT secret_sha256, role, customer_no, name FROM portal_tokens"
            " WHERE token_id = %s AND revoked_at IS NULL",
            (token_id,),
        )
        if not rows:
            hmac.compare_digest(_digest(secret), _digest(""))  # same work whether the id exists or not
            return None
        stored, role, customer_no, name = rows[0]
        if not hmac.compare_digest(_digest(secret), str(stored)):
            return None
        return Principal(token_id, Role(role), customer_no, name, str(stored))
