"""concern-aggregator: low-level safeguarding concerns from many agencies, one picture of a child."""

__version__ = "0.1.0"
