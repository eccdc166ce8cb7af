"""Deduplication, re-opening, escalation, silences and compare-and-set, on both backends."""

import asyncio
from datetime import timedelta

from aggregator.core.db import Database
from aggregator.principals.models import Principal
from alerts import service
from alerts.models import Alert, AlertSubscription
from alerts.rules import load_rules
from tests.alerts.helpers import NOW, World, alerts, days_ago, jobs_at, notifications, sweep


async def person(db: Database, name: str, role: str = "lead") -> Principal:
    async with db.session() as s:
        p = Principal(kind="person", name=name, role=role)
        s.add(p)
    return p


async def subscribe(db: Database, who: Principal, level: int = 0) -> AlertSubscription:
    async with db.session() as s:
        sub = AlertSubscription(
            principal_id=who.id,
            channel="webhook",
            target="http://127.0.0.1:9/hook",
            secret="whsec_test",
            level=level,
        )
        s.add(sub)
    return sub


async def missing_child(world: World) -> str:
    c = await world.child()
    await world.concern(c, "Police", "missing", days_ago(2), kind="police")
    await world.concern(c, "Police", "missing", days_ago(9), kind="police")
    return c


async def test_repeated_sweeps_make_no_duplicates(world: World) -> None:
    db = world.db
    await subscribe(db, await person(db, "lead@hub.example"))
    child = await missing_child(world)
    first = await sweep(db)
    assert first.opened == 1 and first.notifications == 1
    before = await alerts(db, child)
    for _ in range(3):
        again = await sweep(db)
        assert (again.opened, again.updated, again.reopened, again.notifications) == (0, 0, 0, 0)
    after = await alerts(db, child)
    assert [(a.id, a.version) for a in after] == [(a.id, a.version) for a in before]
    assert len(await notifications(db)) == 1
    # An incremental sweep over the same, untouched child changes nothing either.
    jobs = jobs_at(db, NOW + timedelta(minutes=5))
    assert (await jobs.sweep()).opened == 0


async def test_new_evidence_updates_and_a_resolved_alert_reopens_only_on_new_evidence(
    world: World,
) -> None:
    db = world.db
    lead = await person(db, "lead@hub.example")
    child = await missing_child(world)
    await sweep(db)
    (alert,) = await alerts(db, child)
    async with db.session() as s:
        a = await s.get(Alert, alert.id)
        assert a is not None
        await service.resolve(s, a, lead, "Return home interview done; no exploitation", NOW)
    await sweep(db, NOW + timedelta(hours=1))
    (same,) = await alerts(db, child)
    assert same.state == "resolved"
    later = NOW + timedelta(hours=2)
    await world.concern(child, "Police", "missing", days_ago(0), kind="police", received=later)
    await sweep(db, later + timedelta(minutes=1))
    (reopened,) = [a for a in await alerts(db, child) if a.rule_id == alert.rule_id]
    assert reopened.id == alert.id
    assert reopened.state == "open" and reopened.resolution_reason is None
    assert reopened.notes[-1]["kind"] == "reopened"
    assert len(reopened.evidence["concern_ids"]) == 3


async def test_escalation_fires_at_the_timeout_and_not_after_acknowledgement(
    world: World,
) -> None:
    db = world.db
    manager = await person(db, "manager@hub.example", "hub")
    await subscribe(db, manager, level=1)
    a_child, b_child = await missing_child(world), await missing_child(world)
    await sweep(db)
    rules = load_rules()
    timeout = timedelta(hours=rules.get("missing_exploitation").escalate_after_hours)  # type: ignore[union-attr]
    lead = await person(db, "lead@hub.example")
    (b_alert,) = await alerts(db, b_child)
    async with db.session() as s:
        b = await s.get(Alert, b_alert.id)
        assert b is not None
        await service.acknowledge(s, b, lead, NOW + timedelta(hours=1))

    assert await jobs_at(db, NOW + timedelta(seconds=timeout.total_seconds() - 1)).escalate() == 0
    assert await jobs_at(db, NOW + timedelta(seconds=timeout.total_seconds())).escalate() == 1
    assert await jobs_at(db, NOW + timedelta(seconds=timeout.total_seconds() + 60)).escalate() == 0
    (a_alert,) = await alerts(db, a_child)
    (b_alert,) = await alerts(db, b_child)
    assert a_alert.escalation_level == 1 and b_alert.escalation_level == 0
    escalated = [n for n in await notifications(db) if n.event == "escalated"]
    assert [n.alert_id for n in escalated] == [a_alert.id]
    assert escalated[0].payload["alert"]["id"] == a_alert.id


async def test_concurrent_acknowledge_and_resolve_end_in_one_consistent_state(
    world: World,
) -> None:
    db = world.db
    child = await missing_child(world)
    await sweep(db)
    (alert,) = await alerts(db, child)
    people = [await person(db, f"p{i}@hub.example") for i in range(6)]

    async def act(i: int) -> str:
        try:
            async with db.session() as s:
                a = await s.get(Alert, alert.id)
                assert a is not None
                if i % 2:
                    await service.resolve(s, a, people[i], "Discussed at the hub meeting", NOW)
                else:
                    await service.acknowledge(s, a, people[i], NOW)
            return "resolve" if i % 2 else "ack"
        except (service.AlertConflict, service.TransitionError):
            return "refused"

    results = await asyncio.gather(*(act(i) for i in range(6)))
    (final,) = await alerts(db, child)
    won = [r for r in results if r != "refused"]
    assert results.count("ack") <= 1 and results.count("resolve") <= 1 and won
    assert final.version == 1 + len(won)
    assert final.state == ("resolved" if "resolve" in won else "acknowledged")
    if "ack" in won:
        assert final.acknowledged_by is not None
    kinds = [n["kind"] for n in final.notes]
    assert kinds.count("acknowledged") == results.count("ack")
    assert kinds.count("resolved") == results.count("resolve")


async def test_a_silence_mutes_notifications_and_escalation_but_keeps_the_alert(
    world: World,
) -> None:
    db = world.db
    lead = await person(db, "lead@hub.example")
    await subscribe(db, lead)
    await subscribe(db, lead, level=1)
    child = await missing_child(world)
    async with db.session() as s:
        await service.add_silence(
            s, lead, child, None, "Strategy meeting already booked", NOW + timedelta(days=1)
        )
    await sweep(db)
    (alert,) = await alerts(db, child)
    assert alert.state == "open"
    assert await notifications(db) == []
    assert await jobs_at(db, NOW + timedelta(hours=20)).escalate() == 0
    # Once the silence has expired, escalation resumes.
    assert await jobs_at(db, NOW + timedelta(days=2)).escalate() == 1
    assert [n.event for n in await notifications(db)] == ["escalated"]


async def test_alerts_of_a_merged_away_child_are_retired_and_the_survivor_carries_them(
    world: World,
) -> None:
    from aggregator.children.models import Child

    db = world.db
    absorbed = await missing_child(world)
    survivor = await world.child()
    await sweep(db)
    assert [a.state for a in await alerts(db, absorbed)] == ["open"]
    async with db.session() as s:
        await s.execute(
            Child.__table__.update()
            .where(Child.__table__.c.id == absorbed)
            .values(merged_into=survivor)  # type: ignore[attr-defined]
        )
        from aggregator.concerns.models import ChildRecord

        await s.execute(
            ChildRecord.__table__.update()
            .where(ChildRecord.__table__.c.child_id == absorbed)
            .values(child_id=survivor)  # type: ignore[attr-defined]
        )
    await sweep(db, NOW + timedelta(minutes=10))
    (old,) = await alerts(db, absorbed)
    assert old.state == "resolved" and survivor in (old.resolution_reason or "")
    assert [a.state for a in await alerts(db, survivor)] == ["open"]
    assert (await sweep(db, NOW + timedelta(minutes=20))).opened == 0  # idempotent
