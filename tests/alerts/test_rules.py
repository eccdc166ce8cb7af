"""Each default rule fires on its case and stays silent on a near miss (both backends).

The clock is injected: every sweep runs at NOW, and dates sit on either side of
each rule's threshold.
"""

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from alerts.rules import RulesError, load_rules, parse_rules
from tests.alerts.helpers import NOW, World, alerts, at, days_ago, sweep

Case = Callable[[World], Awaitable[str]]


def _months_ago(months: int) -> str:
    year, month = NOW.year, NOW.month - months
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}-{NOW.day:02d}"


async def infant_bruise(w: World, months: int = 3) -> str:
    c = await w.child()
    await w.concern(
        c, "Health Visitors", "injury", days_ago(1), kind="health", dob=_months_ago(months)
    )
    return c


async def older_baby_bruise(w: World) -> str:
    return await infant_bruise(w, months=7)


async def non_mobile_child_physical(w: World) -> str:
    c = await w.child()
    await w.concern(c, "School", "physical", days_ago(2), dob="2022-01-10", mobile=False)
    return c


async def two_agencies_in_a_week(w: World, gp_days: int = 5) -> str:
    c = await w.child()
    await w.concern(c, "School", "neglect", days_ago(2))
    await w.concern(c, "GP", "emotional", days_ago(gp_days), kind="health")
    return c


async def two_agencies_nine_days_apart(w: World) -> str:
    return await two_agencies_in_a_week(w, gp_days=9)


async def three_in_ninety_days(w: World, oldest: int = 80) -> str:
    c = await w.child()
    await w.concern(c, "School", "neglect", days_ago(10))
    await w.concern(c, "School", "neglect", days_ago(40), outcome="no_further_action")
    await w.concern(c, "School", "neglect", days_ago(oldest), outcome="no_further_action")
    return c


async def third_concern_too_old(w: World) -> str:
    return await three_in_ninety_days(w, oldest=95)


async def police_da_and_school(w: World, other: str = "School") -> str:
    c = await w.child()
    await w.concern(c, "Police", "domestic_abuse", days_ago(3), kind="police")
    kind = "police" if other == "Police" else "school"
    await w.concern(c, other, "neglect", days_ago(20), kind=kind)
    return c


async def police_da_and_police(w: World) -> str:
    return await police_da_and_school(w, other="Police")


async def new_adult(w: World, first_has_adult: bool = False) -> str:
    # Issue 18: "first named" is by the day the concern was observed (it was by the
    # day received, so a late upload of a 150-day-old concern counted as new).
    c = await w.child()
    first_keys = (("adult", "adult:SM0|KL"),) if first_has_adult else ()
    await w.concern(c, "School", "neglect", days_ago(200), keys=first_keys)
    await w.concern(
        c,
        "GP",
        "emotional",
        days_ago(5),
        kind="health",
        received=at(5),
        keys=(("adult", "adult:SM0|KL"),),
    )
    return c


async def same_adult_from_the_start(w: World) -> str:
    return await new_adult(w, first_has_adult=True)


async def attendance_plus(w: World, other_days: int = 60) -> str:
    c = await w.child()
    await w.concern(c, "School", "attendance", days_ago(10))
    await w.concern(c, "School", "neglect", days_ago(other_days))
    return c


async def attendance_plus_too_old(w: World) -> str:
    return await attendance_plus(w, other_days=100)


async def missing_twice(w: World, second: int = 25) -> str:
    c = await w.child()
    await w.concern(c, "Police", "missing", days_ago(2), kind="police")
    await w.concern(c, "Police", "missing", days_ago(second), kind="police")
    return c


async def missing_too_far_apart(w: World) -> str:
    return await missing_twice(w, second=40)


async def missing_and_exploitation(w: World) -> str:
    c = await w.child()
    await w.concern(c, "Police", "missing", days_ago(60), kind="police")
    await w.concern(c, "Youth Service", "exploitation", days_ago(5), kind="youth_service")
    return c


async def on_a_plan(w: World, status: str = "child_protection_plan") -> str:
    c = await w.child()
    await w.concern(
        c,
        "Social Care",
        "other",
        days_ago(100),
        kind="childrens_social_care",
        status=status,
        received=at(100),
    )
    await w.concern(c, "School", "emotional", days_ago(1))
    return c


async def child_in_need_only(w: World) -> str:
    return await on_a_plan(w, status="child_in_need")


async def siblings(w: World, second_agency: str = "GP") -> str:
    a, b = await w.child(), await w.child()
    home = (("address", "addr:LS6|12|mill"),)
    await w.concern(a, "School", "neglect", days_ago(10), keys=home)
    kind = "school" if second_agency == "School" else "health"
    await w.concern(b, second_agency, "neglect", days_ago(20), kind=kind, keys=home)
    return a


async def siblings_one_agency(w: World) -> str:
    return await siblings(w, second_agency="School")


CASES: list[tuple[str, Case, bool]] = [
    ("non_mobile_infant_injury", infant_bruise, True),
    ("non_mobile_infant_injury", non_mobile_child_physical, True),
    ("non_mobile_infant_injury", older_baby_bruise, False),
    ("multi_agency_7d", two_agencies_in_a_week, True),
    ("multi_agency_7d", two_agencies_nine_days_apart, False),
    ("accumulation", three_in_ninety_days, True),
    ("accumulation", third_concern_too_old, False),
    ("domestic_abuse_context", police_da_and_school, True),
    ("domestic_abuse_context", police_da_and_police, False),
    ("domestic_abuse_context", new_adult, True),
    ("domestic_abuse_context", same_adult_from_the_start, False),
    ("attendance_plus", attendance_plus, True),
    ("attendance_plus", attendance_plus_too_old, False),
    ("missing_exploitation", missing_twice, True),
    ("missing_exploitation", missing_and_exploitation, True),
    ("missing_exploitation", missing_too_far_apart, False),
    ("statutory_status", on_a_plan, True),
    ("statutory_status", child_in_need_only, False),
    ("household", siblings, True),
    ("household", siblings_one_agency, False),
]


@pytest.mark.parametrize(
    ("rule", "case", "fires"), CASES, ids=[f"{r}-{c.__name__}" for r, c, _ in CASES]
)
async def test_rule_fires_on_its_case_and_not_on_a_near_miss(
    world: World, rule: str, case: Case, fires: bool
) -> None:
    child = await case(world)
    await sweep(world.db)
    found = {a.rule_id: a for a in await alerts(world.db, child)}
    assert (rule in found) is fires, sorted(found)
    if fires:
        alert = found[rule]
        assert alert.state == "open"
        assert alert.evidence["concern_ids"] and alert.evidence["agency_ids"]
        assert alert.evidence["why"] and alert.evidence["window_end"] == NOW.date().isoformat()


async def test_rule_9_folds_a_new_agency_into_the_open_alert(world: World) -> None:
    child = await missing_twice(world)
    await sweep(world.db)
    (before,) = await alerts(world.db, child)
    assert before.rule_id == "missing_exploitation"
    # Near miss: another late report from the police, already on the alert.
    await world.concern(
        child, "Police", "neglect", days_ago(120), kind="police", received=NOW.replace(hour=13)
    )
    await sweep(world.db, NOW.replace(hour=13, minute=30))
    (unchanged,) = await alerts(world.db, child)
    assert unchanged.version == before.version
    # A school's late report of an old worry: in no rule's window, but a new agency.
    later = NOW.replace(hour=14)
    school = await world.concern(child, "School", "neglect", days_ago(120), received=later)
    await sweep(world.db, later.replace(hour=15))
    (after,) = await alerts(world.db, child)
    assert after.id == before.id and after.version == before.version + 1
    assert school in after.evidence["concern_ids"]
    assert world.agencies["School"] in after.evidence["agency_ids"]
    assert after.notes[-1]["kind"] == "new_agency"
    assert "new_agency_on_open_alert" in after.notes[-1]["text"]


def test_shipped_rules_are_valid_and_cover_the_nine_defaults() -> None:
    rules = load_rules()
    assert len(rules.rules) == 9
    assert rules.new_agency_rule is not None


def test_a_bad_rules_file_is_refused_with_where_and_why(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text(
        'version = "x"\n[[rules]]\nid = "too_many"\nseverity = "purple"\ntext = "{child_name}"\n'
        '[[rules.when]]\nkind = "count"\nwindow_days = 0\n'
    )
    with pytest.raises(RulesError) as err:
        load_rules(bad)
    message = str(err.value)
    assert "rule 'too_many'" in message and "severity" in message and "window_days" in message
    with pytest.raises(RulesError, match="not valid TOML"):
        parse_rules("[[rules]\n")
    with pytest.raises(RulesError, match="unknown placeholder"):
        parse_rules(
            'version = "x"\n[[rules]]\nid = "abc"\ntext = "{child_name}"\n'
            '[[rules.when]]\nkind = "count"\nwindow_days = 3\n'
        )
