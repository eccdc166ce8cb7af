"""Loading an authority's history at go-live floods no inbox (issue 18): every window is
by the date a concern was observed, so old concerns received today open nothing."""

from datetime import timedelta

from tests.alerts.helpers import NOW, World, alerts, days_ago, sweep


async def _history(world: World, child: str, observed_days_ago: int) -> None:
    """Two agencies, police domestic abuse, and a mother then a new partner named."""
    await world.concern(
        child, "Leeds Primary School", "neglect", days_ago(observed_days_ago),
        received=NOW - timedelta(hours=2), keys=(("adult", "adult:LS6|SM0|KL"),),
    )  # fmt: skip
    await world.concern(
        child, "West Yorkshire Police", "domestic_abuse", days_ago(observed_days_ago - 3),
        kind="police", received=NOW - timedelta(hours=1),
        keys=(("adult", "adult:LS6|SM0|KL"), ("adult", "adult:LS6|JNS|TM")),
    )  # fmt: skip


async def test_concerns_observed_long_ago_open_no_alert_when_loaded_today(world: World) -> None:
    old = await world.child()
    await _history(world, old, observed_days_ago=200)
    await sweep(world.db, full=True)
    assert await alerts(world.db, old) == []


async def test_the_same_concerns_observed_recently_do_open_it(world: World) -> None:
    recent = await world.child()
    await _history(world, recent, observed_days_ago=10)
    await sweep(world.db, full=True)
    rules = {a.rule_id for a in await alerts(world.db, recent)}
    assert "domestic_abuse_context" in rules


async def test_a_new_adult_counts_by_the_day_observed_not_received(world: World) -> None:
    child = await world.child()
    # first known 60 days ago; a partner first named in a concern observed 50 days ago
    # but received today (a late upload): not new within the 30-day window
    await world.concern(
        child, "Riverside Health Centre", "neglect", days_ago(60), kind="health",
        keys=(("adult", "adult:LS6|SM0|KL"),),
    )  # fmt: skip
    await world.concern(
        child, "Riverside Health Centre", "neglect", days_ago(50), kind="health",
        received=NOW - timedelta(hours=1), keys=(("adult", "adult:LS6|JNS|TM"),),
    )  # fmt: skip
    await sweep(world.db, full=True)
    assert "domestic_abuse_context" not in {a.rule_id for a in await alerts(world.db, child)}
