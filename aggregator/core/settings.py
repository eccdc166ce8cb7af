"""One settings class, read from `AGGREGATOR_*` environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"", "change-me", "dev-only-audit-key", "dev-only-session-key"}


class Settings(BaseSettings):
    """Why one class: every knob is documented in one place and validated at start."""

    model_config = SettingsConfigDict(env_prefix="AGGREGATOR_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./aggregator.db"
    database_pool_size: int = 10
    # Every statement is prepared with ids and keys as parameters; PostgreSQL's
    # default re-plans such a statement on each run when it guesses a parameter
    # matters (the candidate query: ~0.4 ms of its CPU per submission). Plan once.
    database_generic_plans: bool = True
    # Keys the audit chain with HMAC so that whoever can write to the database
    # still cannot forge a chain that verifies.
    audit_key: SecretStr = SecretStr("dev-only-audit-key")
    session_key: SecretStr = SecretStr("dev-only-session-key")
    base_url: str = "http://127.0.0.1:8000"
    audit_seal_interval_seconds: float = 2.0
    # Unsealed audit events older than this are reported by `audit verify`: a
    # committed event is sealed within seconds, so an old unsealed one was inserted.
    audit_unsealed_grace_seconds: float = 300.0
    # Audit anchor: every seal appends its head (seq, hash, time, HMAC) to this file,
    # kept where the database's writers cannot change it (append-only volume, WORM
    # bucket, syslog sink); `audit verify` then detects a truncated or re-chained tail.
    audit_anchor_path: Path | None = None

    @field_validator("audit_anchor_path", mode="before")
    @classmethod
    def _no_anchor_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # `AGGREGATOR_AUDIT_ANCHOR_PATH=` means none

    page_size_max: int = Field(default=200, ge=1)
    # How often each process checks for a newly trained match model.
    match_model_refresh_seconds: float = Field(default=60.0, gt=0)
    # Dashboard sign-in. A session ends after this long without a request, and in
    # any case this long after sign-in, so a forgotten browser does not stay open.
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=10, ge=1)
    # Failed passwords in a row that lock a person out, and for how long.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    # Alerts (package `alerts`). `aggregator serve` runs the scheduler in-process
    # unless this is false; production runs it as `aggregator scheduler` instead.
    # Whatever the number of processes, a lease lets only one of them act.
    run_scheduler: bool = True
    sweep_interval_seconds: float = Field(default=300.0, ge=0.5)
    # Concerns committed just before a sweep may carry an earlier `touched_at`;
    # each incremental sweep looks back this much further than the last one.
    sweep_overlap_seconds: float = Field(default=60.0, ge=0)
    full_sweep_hour_utc: int = Field(default=2, ge=0, le=23)
    # Alert latency (issue 15): how often the lease holder looks for children
    # touched since it last looked and evaluates them at once, so that a red alert
    # opens within seconds of its concern whatever the sweep interval.
    sweep_quick_interval_seconds: float = Field(default=1.0, ge=0.1)
    delivery_interval_seconds: float = Field(default=10.0, ge=0.1)
    escalation_interval_seconds: float = Field(default=60.0, ge=0.1)
    rules_path: Path | None = None
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_backoff_seconds: float = Field(default=30.0, ge=0)
    delivery_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    # Limits (issue 14): no request may cost unbounded memory or CPU. Bodies over
    # this many bytes are refused with 413 before they are read further.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Requests per minute before 429: per API token, per client address on the
    # sign-in form and per account signed in to. Far above what an agency's
    # system or a hub office sends; `limits` storage URI (memory:// is per
    # process; redis://host:6379 shares the counts between processes).
    rate_limit_api_per_minute: int = Field(default=600, ge=1)
    rate_limit_sign_in_per_minute: int = Field(default=60, ge=1)
    rate_limit_sign_in_account_per_minute: int = Field(default=20, ge=1)
    rate_limit_storage_uri: str = "memory://"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_from: str = "alerts@aggregator.invalid"
    # Alert delivery and /metrics (issue 15). Delivery runs continuously in the
    # lease holder, polling the outbox this often while idle (and at once after an
    # alert change); `delivery_interval_seconds` above is no longer used by it.
    delivery_poll_seconds: float = Field(default=0.25, gt=0)
    delivery_batch: int = Field(default=200, ge=1)  # outbox rows claimed per query
    delivery_concurrency: int = Field(default=100, ge=1)  # requests in flight in all
    delivery_per_receiver: int = Field(default=8, ge=1)  # ... to one host:port or SMTP server
    # On SIGTERM, requests under way get this long to finish and be settled.
    delivery_stop_grace_seconds: float = Field(default=10.0, ge=0)
    # /metrics is served only when set, to `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None
    # Casework (issue 19): the red/amber/green response windows (TOML; the shipped
    # alerts/timescales.toml when unset), and who a referring agency should contact
    # about the hub's response to its concern (shown in `hub_response`).
    timescales_path: Path | None = None
    hub_duty_contact: str = Field(
        default="the safeguarding hub's duty desk", min_length=3, max_length=200
    )
    # Audit events that callers could multiply, and database outages
    # (`aggregator.audit.flood`, `aggregator.core.unavailable`): per process, the
    # events written per minute for one client address nobody authenticated, for
    # one principal's refused or failed submissions, and for all sources of each
    # kind together (the rest are counted in one `audit.suppressed` event); the
    # events kept in memory while the database is down; how often both are
    # written; and the `Retry-After` of a 503 while the database is unreachable.
    audit_anonymous_per_minute: int = Field(default=20, ge=1)
    audit_refusals_per_minute: int = Field(default=30, ge=1)
    audit_flood_total_per_minute: int = Field(default=1000, ge=1)
    audit_backlog_max: int = Field(default=10_000, ge=0)
    audit_flush_interval_seconds: float = Field(default=5.0, gt=0)
    database_retry_after_seconds: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> "Settings":
        if self.environment == "production":
            for name in ("audit_key", "session_key"):
                value: SecretStr = getattr(self, name)
                if (
                    value.get_secret_value() in _PLACEHOLDER_SECRETS
                    or len(value.get_secret_value()) < 32
                ):
                    raise ValueError(
                        f"AGGREGATOR_{name.upper()} must be set to a random secret of at "
                        "least 32 characters in production"
                    )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """Settings are read once per process; tests build their own instances."""
    return Settings()
