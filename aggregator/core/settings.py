"""One settings class, read from `AGGREGATOR_*` environment variables."""

from functools import lru_cache
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
    # Dashboard sign-in. A session ends after this long without a request, and in
    # any case this long after sign-in, so a forgotten browser does not stay open.
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=10, ge=1)
    # Failed passwords in a row that lock a person out, and for how long.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)

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
