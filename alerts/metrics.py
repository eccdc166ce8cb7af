"""Prometheus families of the alert sweeps, in the process's default registry.

Module-level, as prometheus-client intends, so that `/metrics` (which serves the
default registry) finds them wherever the sweeps run. Labels are kinds and
severities only: never a child, concern or alert id.
"""

from prometheus_client import Counter, Histogram

# "quick": the children touched in the last seconds; "incremental": those touched
# since the last periodic sweep; "full": every child.
KINDS = ("quick", "incremental", "full")

SWEEP_DURATION = Histogram(
    "aggregator_sweep_duration_seconds",
    "Time an alert sweep took, by kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
SWEEP_FAILURES = Counter(
    "aggregator_sweep_failures_total",
    "Alert sweeps that failed as a whole (the watermark did not move), by kind.",
    ["kind"],
)
SWEEP_CHILDREN = Counter(
    "aggregator_sweep_children_evaluated_total",
    "Children whose alert rules a sweep evaluated, by kind.",
    ["kind"],
)
SWEEP_CHILD_FAILURES = Counter(
    "aggregator_sweep_child_failures_total",
    "Children a sweep could not evaluate; each is retried by the next sweep.",
)
CONCERN_TO_ALERT = Histogram(
    "aggregator_concern_to_alert_seconds",
    "From the newest concern an alert cites being received to the alert opening or "
    "re-opening, by severity.",
    ["severity"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

for _kind in KINDS:  # every family is visible from the first scrape
    SWEEP_DURATION.labels(_kind)
    SWEEP_FAILURES.labels(_kind)
    SWEEP_CHILDREN.labels(_kind)
for _severity in ("red", "amber"):
    CONCERN_TO_ALERT.labels(_severity)
