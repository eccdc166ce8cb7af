"""The budgets that keep callers from growing the audit trail without bound."""

from aggregator.audit.flood import OVERFLOW, Backlog, EventBudget
from aggregator.audit.models import AuditEvent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_source_gets_its_budget_per_window_and_the_rest_is_counted() -> None:
    clock = Clock()
    budget = EventBudget("client", per_source=3, total=100, window_seconds=60, clock=clock)
    admitted = [budget.admit("a", "access.denied") for _ in range(10)]
    assert admitted == [True] * 3 + [False] * 7
    assert budget.admit("b", "access.denied")  # another source is not held back
    assert budget.take_due() == []  # the window is still open
    clock.now += 60
    due = dict(budget.take_due())
    assert set(due) == {"a"}
    assert due["a"].counts == {"access.denied": 7}
    assert budget.admit("a", "access.denied")  # a new window, a new budget


def test_the_total_bounds_many_sources_and_new_ones_share_one_tally() -> None:
    clock = Clock()
    budget = EventBudget("client", per_source=2, total=10, window_seconds=60, clock=clock)
    written = sum(budget.admit(f"addr-{i}", "csrf.refused") for i in range(5000))
    assert written == 10
    due = dict(budget.take_due(now=True))
    assert set(due) == {OVERFLOW}  # 4990 sources, one summary
    assert due[OVERFLOW].counts == {"csrf.refused": 4990}
    assert due[OVERFLOW].source == "overflow"


def test_a_summary_that_could_not_be_written_is_kept_and_merged() -> None:
    clock = Clock()
    budget = EventBudget("principal", per_source=1, total=10, window_seconds=60, clock=clock)
    for _ in range(3):
        budget.admit("agency", "concern.refused")
    ((key, tally),) = budget.take_due(now=True)
    budget.restore(key, tally)  # its write failed
    budget.admit("agency", "concern.failed")
    clock.now += 60
    ((key, merged),) = budget.take_due()
    assert merged.counts == {"concern.refused": 2, "concern.failed": 1}


def test_the_backlog_is_bounded_and_counts_what_it_dropped() -> None:
    backlog = Backlog(limit=2)
    events = [AuditEvent(action=f"a{i}", purpose="p", outcome="failed") for i in range(5)]
    backlog.keep(events, "database unavailable")
    assert len(backlog) == 2
    kept, lost = backlog.take()
    assert [e.action for e in kept] == ["a0", "a1"]
    assert lost is not None and lost.counts == {"a2": 1, "a3": 1, "a4": 1}
    backlog.put_back(kept, lost)
    assert len(backlog) == 2
