"""One settings class, read from `AGGREGATOR_*` environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
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
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_from: str = "alerts@aggregator.invalid"

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
