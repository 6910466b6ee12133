"""Typed settings, read once at the entry point (environment, prefix CASHBACK_, or .env)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.chain import DEVELOPMENT_KEY as DEVELOPMENT_AUDIT_KEY
from schemas.feed import FEED_TOPIC
from schemas.payout import PAYOUT_TOPIC, RESULTS_TOPIC


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASHBACK_", env_file=".env", extra="ignore")

    store: Literal["sqlite", "postgres"] = Field("sqlite", description="Event store backend.")
    data_dir: Path = Field(Path("var"), description="Folder of the SQLite files and stored documents.")
    pg_dsn: str = "postgresql://cashback:cashback@127.0.0.1:55432/cashback"
    pg_schema: str = "public"
    campaign_file: Path = Path("examples/campaign.toml")
    catalog_file: Path = Path("examples/catalog.csv")
    language: Literal["fr", "en"] = "fr"
    batch_size: int = Field(1000, ge=1, le=20000)

    kafka_bootstrap: str = "127.0.0.1:59092"
    feed_topic: str = FEED_TOPIC
    feed_dead_letter_topic: str = Field(
        "", description="Dead letters of the feed; empty: the feed topic's name + '.dlq'."
    )
    feed_group: str = "cashback-feed"
    payout_topic: str = PAYOUT_TOPIC
    results_topic: str = RESULTS_TOPIC

    @model_validator(mode="after")
    def _dead_letters_beside_the_feed(self) -> Settings:
        if not self.feed_dead_letter_topic:
            self.feed_dead_letter_topic = self.feed_topic + ".dlq"
        return self

    def event_store_env(self) -> dict[str, str]:
        """Environment for the eventsourcing library's infrastructure factory."""
        if self.store == "sqlite":
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.data_dir / "events.sqlite"),
                "SQLITE_LOCK_TIMEOUT": "30",
                "PROCESS_RECORDER_TOPIC": "adapters.sqlite_store:CashbackSQLiteRecorder",
            }
        url = urlparse(self.pg_dsn)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "cashback",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "cashback"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": self.pg_schema,
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_PRE_PING": "y",
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
            "PROCESS_RECORDER_TOPIC": "adapters.postgres_store:CashbackPostgresRecorder",
        }

    @property
    def overview_path(self) -> Path:
        return self.data_dir / "overview.sqlite"

    # --- portal (HTTP API and the installers' web page) ------------------------------------
    portal_host: str = Field("127.0.0.1", description="Address `cashback serve` listens on.")
    portal_port: int = Field(8000, ge=1, le=65535, description="Port `cashback serve` listens on.")
    portal_max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest accepted upload.")
    portal_max_workbook_rows: int = Field(20000, ge=1, description="Most device rows in one uploaded workbook.")
    portal_page_max: int = Field(200, ge=1, le=5000, description="Largest page of the device overview.")
    portal_staleness_seconds: float = Field(
        0.5, ge=0, description="Reads catch the projections up when they were last caught up longer ago."
    )
    portal_catch_up_budget_seconds: float = Field(0.25, gt=0, description="Time a read may spend catching up.")
    portal_cookie_secure: bool = Field(False, description="Always mark the session cookie Secure (behind HTTPS).")
    portal_feed_lag: bool = Field(False, description="/metrics asks Kafka for end offsets to export the feed lag.")

    # --- documents, document-request e-mails, deadlines (issue #4, docs/documents.md) ------------
    documents_dir: Path | None = Field(None, description="Stored uploads; default <data_dir>/documents.")
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest accepted document (bytes).")
    upload_url: str = Field("http://127.0.0.1:8000/", description="Where installers upload, named in the e-mails.")
    smtp_host: str = Field("127.0.0.1", description="SMTP server of the outgoing e-mails.")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (submission, 587), tls (implicit TLS, 465) or none (local relay)."
    )
    smtp_username: str | None = None
    smtp_password: str | None = Field(None, repr=False, description="Never logged.")
    smtp_timeout: float = Field(30.0, gt=0, description="Seconds per SMTP operation.")
    smtp_ca_file: Path | None = Field(None, description="CA bundle to verify the SMTP server (default: system).")
    mail_from: str = Field("Cashback <cashback@localhost>", description="From address of the e-mails.")
    mail_message_id_domain: str = Field("cashback.local", description="Right-hand side of the Message-IDs.")
    reminder_days: int = Field(3, ge=0, le=365, description="Reminder e-mail N days before the deadline; 0: none.")
    mail_retry_base_seconds: float = Field(5.0, gt=0, description="First retry delay after a failed send.")
    mail_retry_max_seconds: float = Field(900.0, gt=0, description="Longest retry delay (doubling up to it).")
    worker_interval_seconds: float = Field(1.0, gt=0, description="Idle pause of the notifications/deadlines workers.")

    # --- audit (issue #7, docs/audit.md) ------------------------------------------------------------
    audit_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_AUDIT_KEY),
        description="HMAC key of the events' hash chain. The default is public: production MUST set its own.",
    )
