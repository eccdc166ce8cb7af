"""A synthetic borough: concern submissions about synthetic children.

Shared by the demo (`aggregator serve --demo`) and the benchmarks. Identities come
from `matching.synthetic` (nicknames, typos, swapped dates, moves, siblings and
twins); this module adds what agencies say about them, spread over 18 months,
plus scripted cases that each default alert rule should catch. Deterministic
from a seed; nothing here is about a real person.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aggregator.concerns import checks
from aggregator.concerns.schemas import ConcernSubmission
from aggregator.concerns.vocab import AgencyType
from matching.records import ChildRecord as MatchRecord
from matching.synthetic import Child, Population, generate_population

# What each kind of agency mostly notices, with weights.
CATEGORIES: dict[AgencyType, list[tuple[str, int]]] = {
    AgencyType.SCHOOL: [
        ("neglect", 5),
        ("attendance", 5),
        ("emotional", 3),
        ("physical", 1),
        ("online_safety", 2),
        ("mental_health", 2),
    ],
    AgencyType.HEALTH: [
        ("injury", 3),
        ("neglect", 3),
        ("mental_health", 3),
        ("self_harm", 2),
        ("physical", 1),
    ],
    AgencyType.POLICE: [
        ("domestic_abuse", 5),
        ("missing", 3),
        ("exploitation", 2),
        ("substance_misuse", 1),
    ],
    AgencyType.HOUSING: [("neglect", 3), ("domestic_abuse", 2), ("other", 2)],
    AgencyType.CHILDRENS_SOCIAL_CARE: [
        ("neglect", 2),
        ("emotional", 2),
        ("physical", 1),
        ("sexual", 1),
    ],
    AgencyType.YOUTH_SERVICE: [
        ("exploitation", 3),
        ("missing", 2),
        ("substance_misuse", 2),
        ("radicalisation", 1),
    ],
}
AGENCY_WEIGHTS = {
    AgencyType.SCHOOL: 34,
    AgencyType.HEALTH: 24,
    AgencyType.POLICE: 16,
    AgencyType.HOUSING: 8,
    AgencyType.CHILDRENS_SOCIAL_CARE: 8,
    AgencyType.YOUTH_SERVICE: 10,
}
SUMMARIES = {
    "neglect": [
        "Arrived hungry several days this week.",
        "Same clothes all week; unwashed.",
        "Untreated head lice for weeks.",
    ],
    "attendance": [
        "Attendance 78% this term.",
        "Absent without explanation for 6 days.",
        "Parent reports move to home education.",
    ],
    "emotional": [
        "Withdrawn and tearful in class.",
        "Reports being shouted at and called names at home.",
    ],
    "physical": [
        "Red marks on the arm; explanation changed.",
        "Complained that a parent hit them.",
    ],
    "online_safety": ["Contact from an unknown adult online.", "Sharing images on a social app."],
    "mental_health": ["Low mood for several weeks.", "Anxiety affecting sleep and eating."],
    "injury": [
        "Bruise on the upper arm, explanation vague.",
        "Burn on the hand, late presentation.",
    ],
    "self_harm": ["Superficial cuts to forearm seen.", "Disclosed thoughts of self-harm."],
    "domestic_abuse": [
        "Called to the home: argument between adults, child present.",
        "Report of a partner assaulting the mother.",
    ],
    "missing": [
        "Reported missing overnight; returned next morning.",
        "Missing for 9 hours; would not say where.",
    ],
    "exploitation": [
        "Seen with older youths; unexplained new phone.",
        "Found carrying cash and two phones.",
    ],
    "substance_misuse": ["Smelled of cannabis at a youth session.", "Found drunk in the park."],
    "radicalisation": ["Sharing extremist material with peers."],
    "sexual": ["Sexualised behaviour beyond age; disclosed to a worker."],
    "other": ["Family in temporary accommodation; overcrowded.", "Rent arrears; eviction notice."],
}
PRACTITIONERS = {
    AgencyType.SCHOOL: [
        ("A. Patel", "Class teacher"),
        ("J. Okafor", "Designated safeguarding lead"),
    ],
    AgencyType.HEALTH: [
        ("Dr R. Shah", "GP"),
        ("M. Byrne", "Health visitor"),
        ("S. Lewis", "School nurse"),
    ],
    AgencyType.POLICE: [("PC 4471 Evans", "Response officer"), ("DC Hughes", "Safeguarding unit")],
    AgencyType.HOUSING: [("T. Green", "Housing officer")],
    AgencyType.CHILDRENS_SOCIAL_CARE: [("K. Adeyemi", "Social worker")],
    AgencyType.YOUTH_SERVICE: [("L. Murphy", "Youth worker")],
}


CONSENT_REASONS = {
    "not_sought": "Seeking consent could place the child at risk",
    "refused": "Parent refused; shared without consent as the child may be at risk",
}


@dataclass(frozen=True)
class PlannedSubmission:
    """One concern an agency of `agency_type` will submit, in date order."""

    agency_type: AgencyType
    observed_at: date
    body: dict[str, Any]
    scenario: str | None = None


def _valid(check: Any, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(check(value))
    except ValueError:
        return None


def child_part(record: MatchRecord) -> dict[str, Any]:
    """A record as an agency would send it; values that would fail validation are left out."""
    child: dict[str, Any] = {
        "given_name": record.given_name,
        "family_name": record.family_name,
        "other_names": list(record.other_names),
        "date_of_birth": _valid(checks.partial_date, record.date_of_birth),
        "sex": record.sex,
        "nhs_number": _valid(checks.nhs_number, record.nhs_number),
        "upn": _valid(checks.upn, record.upn),
    }
    postcode = _valid(checks.postcode, record.postcode)
    if record.address_line1 or postcode:
        child["address"] = {
            "line1": record.address_line1,
            "town": record.town,
            "postcode": postcode,
        }
    if not (child["given_name"] or child["family_name"]):
        child["family_name"] = "Unknown"
    if not (child["date_of_birth"] or postcode or child["nhs_number"] or child["upn"]):
        child["date_of_birth"] = None
        return {}
    return child


def body(
    ref: str,
    child: dict[str, Any],
    category: str,
    observed_at: date,
    rng: random.Random,
    agency_type: AgencyType,
    related: list[dict[str, Any]] | None = None,
    severity: int | None = None,
    outcome: str = "open",
) -> dict[str, Any]:
    name, role = rng.choice(PRACTITIONERS[agency_type])
    consent = rng.choice(("not_sought", "not_sought", "given", "refused"))
    handle = name.lower().replace(" ", ".").replace("..", ".")
    police = agency_type == AgencyType.POLICE
    return {
        "external_ref": ref,
        "child": child,
        "related_people": related or [],
        "concern": {
            "category": category,
            "severity": severity or rng.choices((1, 2, 3, 4), weights=(30, 40, 22, 8))[0],
            "observed_at": observed_at.isoformat(),
            "summary": rng.choice(SUMMARIES[category]),
            "practitioner": {
                "name": name,
                "role": role,
                "email": f"{handle}@{agency_type.value}.example",
            },
            "outcome": outcome,
        },
        "sharing": {
            "lawful_basis": "public_task",
            "condition": "dpa2018_sch8_para4" if police else "dpa2018_sch1_para18",
            "consent": consent,
            "consent_reason": None if consent == "given" else CONSENT_REASONS[consent],
            "family_informed": rng.random() < 0.5,
            "not_informed_reason": "Informing the family could increase the risk",
            "protect_reporter_identity": rng.random() < 0.05,
            "purpose": "safeguarding",
        },
    }


def _related(child: Child, rng: random.Random) -> list[dict[str, Any]]:
    people = []
    if rng.random() < 0.6:
        given, _, family = child.mother_name.partition(" ")
        people.append({"relationship": "mother", "given_name": given, "family_name": family})
    if child.father_name and rng.random() < 0.3:
        given, _, family = child.father_name.partition(" ")
        people.append({"relationship": "father", "given_name": given, "family_name": family})
    return people


def borough(
    n_children: int = 500, *, months: int = 18, seed: int = 7, today: date | None = None
) -> list[PlannedSubmission]:
    """Submissions about `n_children` synthetic children plus the scripted alert cases."""
    today = today or date.today()
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    population: Population = generate_population(n_children, records_per_child=(2, 8), seed=seed)
    truth = {c.id: c for c in population.children}
    agency_types = list(AGENCY_WEIGHTS)
    weights = list(AGENCY_WEIGHTS.values())
    planned: list[PlannedSubmission] = []
    for i, record in enumerate(population.records):
        child = child_part(record)
        if not child:
            continue
        agency_type = rng.choices(agency_types, weights=weights)[0]
        cats, cat_weights = zip(*CATEGORIES[agency_type], strict=True)
        category = rng.choices(cats, weights=cat_weights)[0]
        observed = today - timedelta(days=rng.randint(1, months * 30))
        born = checks.partial_date(child["date_of_birth"]) if child.get("date_of_birth") else None
        if born and born > observed.isoformat():
            observed = today - timedelta(days=rng.randint(1, 20))
        related = _related(truth[population.child_of[record.id]], rng)
        planned.append(
            PlannedSubmission(
                agency_type,
                observed,
                body(f"SYN-{seed}-{i}", child, category, observed, rng, agency_type, related),
            )
        )
    planned.extend(scenarios(today, rng))
    planned.sort(key=lambda p: p.observed_at)
    return [p for p in planned if _acceptable(p.body)]


def _acceptable(data: dict[str, Any]) -> bool:
    """Drop the few generated bodies the API would refuse (e.g. a child now over 18)."""
    try:
        ConcernSubmission.model_validate(data)
    except ValueError:
        return False
    return True


def _kid(
    given: str, family: str, dob: date, postcode: str, line1: str, **extra: Any
) -> dict[str, Any]:
    return {
        "given_name": given,
        "family_name": family,
        "date_of_birth": dob.isoformat(),
        "address": {"line1": line1, "town": "Leeds", "postcode": postcode},
        **extra,
    }


def scenarios(today: date, rng: random.Random) -> Iterator[PlannedSubmission]:
    """One scripted child per default alert rule, so the demo opens with alerts."""
    d = lambda n: today - timedelta(days=n)  # noqa: E731
    S, H, P, C = (
        AgencyType.SCHOOL,
        AgencyType.HEALTH,
        AgencyType.POLICE,
        AgencyType.CHILDRENS_SOCIAL_CARE,
    )
    Y = AgencyType.YOUTH_SERVICE
    mum = [{"relationship": "mother", "given_name": "Tanisha", "family_name": "Okonkwo-Reid"}]
    cases: list[tuple[str, AgencyType, int, dict[str, Any], str, dict[str, Any]]] = [
        (
            "baby_injury",
            H,
            1,
            _kid(
                "Noah",
                "Fairweather",
                d(100),
                "LS11 5QT",
                "7 Elland Road",
                independently_mobile=False,
            ),
            "injury",
            {"severity": 3},
        ),
        (
            "two_agencies_week",
            S,
            6,
            _kid("Isla", "Marchetti", d(9 * 365), "LS12 3JP", "41 Armley Ridge Road"),
            "neglect",
            {},
        ),
        (
            "two_agencies_week",
            H,
            2,
            _kid("Isla", "Marchetti", d(9 * 365), "LS12 3JP", "41 Armley Ridge Road"),
            "neglect",
            {},
        ),
        (
            "accumulation",
            S,
            80,
            _kid("Theo", "Brannigan", d(11 * 365), "LS13 2BX", "9 Bramley Street"),
            "emotional",
            {"outcome": "no_further_action"},
        ),
        (
            "accumulation",
            S,
            50,
            _kid("Theo", "Brannigan", d(11 * 365), "LS13 2BX", "9 Bramley Street"),
            "neglect",
            {"outcome": "no_further_action"},
        ),
        (
            "accumulation",
            S,
            12,
            _kid("Theo", "Brannigan", d(11 * 365), "LS13 2BX", "9 Bramley Street"),
            "emotional",
            {},
        ),
        (
            "police_domestic_abuse",
            P,
            20,
            _kid("Ruby", "Okonkwo-Reid", d(6 * 365), "LS14 6QA", "3 Seacroft Crescent"),
            "domestic_abuse",
            {"related": mum},
        ),
        (
            "police_domestic_abuse",
            S,
            9,
            _kid("Ruby", "Okonkwo-Reid", d(6 * 365), "LS14 6QA", "3 Seacroft Crescent"),
            "emotional",
            {},
        ),
        (
            "attendance_plus",
            S,
            60,
            _kid("Kian", "Lindqvist", d(13 * 365), "LS15 8HJ", "22 Cross Gates Road"),
            "attendance",
            {},
        ),
        (
            "attendance_plus",
            H,
            30,
            _kid("Kian", "Lindqvist", d(13 * 365), "LS15 8HJ", "22 Cross Gates Road"),
            "mental_health",
            {},
        ),
        (
            "missing_twice",
            P,
            25,
            _kid("Aaliyah", "Thorne", d(15 * 365), "LS9 7HU", "5 Harehills Lane"),
            "missing",
            {},
        ),
        (
            "missing_twice",
            Y,
            8,
            _kid("Aaliyah", "Thorne", d(15 * 365), "LS9 7HU", "5 Harehills Lane"),
            "missing",
            {},
        ),
        (
            "status_plan",
            C,
            200,
            _kid(
                "Mason",
                "Quigley",
                d(7 * 365),
                "LS10 4LP",
                "18 Belle Isle Road",
                status="child_protection_plan",
            ),
            "neglect",
            {},
        ),
        (
            "status_plan",
            S,
            3,
            _kid("Mason", "Quigley", d(7 * 365), "LS10 4LP", "18 Belle Isle Road"),
            "neglect",
            {},
        ),
        (
            "household",
            S,
            40,
            _kid("Freya", "Abernethy", d(10 * 365), "LS8 2QE", "11 Roundhay Mount"),
            "neglect",
            {},
        ),
        (
            "household",
            H,
            15,
            _kid("Oscar", "Abernethy", d(4 * 365), "LS8 2QE", "11 Roundhay Mount"),
            "injury",
            {},
        ),
        (
            "review",
            S,
            30,
            {
                "given_name": "Jack",
                "family_name": "Hollingworth",
                "date_of_birth": d(8 * 365).isoformat(),
            },
            "attendance",
            {},
        ),
        (
            "review",
            H,
            20,
            {
                "given_name": "Jack",
                "family_name": "Hollingworth",
                "address": {"postcode": "LS6 1AA"},
            },
            "neglect",
            {},
        ),
    ]
    for i, (scenario, agency_type, days_ago, child, category, extra) in enumerate(cases):
        related = extra.pop("related", None) if "related" in extra else None
        yield PlannedSubmission(
            agency_type,
            d(days_ago),
            body(
                f"DEMO-{scenario}-{i}",
                child,
                category,
                d(days_ago),
                rng,
                agency_type,
                related,
                **extra,
            ),
            scenario,
        )
