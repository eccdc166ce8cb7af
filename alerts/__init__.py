"""Threshold alerts: declarative rules over each child's concerns, one scheduler
across processes, escalation, and at-least-once webhook and email delivery.

The public surface is small: the router for the app, the scheduler runner for
`aggregator serve` and `aggregator scheduler`, the jobs for `alerts run-once`,
and the rule loader so a deployment can validate its rules file at start.
"""

from alerts.jobs import AlertJobs, SchedulerRunner, run_forever
from alerts.models import (
    Alert,
    AlertJobState,
    AlertNotification,
    AlertSilence,
    AlertSubscription,
    SchedulerLease,
)
from alerts.routes import router
from alerts.rules import RulesError, RuleSet, load_rules

__all__ = [
    "Alert",
    "AlertJobState",
    "AlertJobs",
    "AlertNotification",
    "AlertSilence",
    "AlertSubscription",
    "RuleSet",
    "RulesError",
    "SchedulerLease",
    "SchedulerRunner",
    "load_rules",
    "router",
    "run_forever",
]
