"""Settings, database plumbing and shared helpers used by every domain package."""

from aggregator.core.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
