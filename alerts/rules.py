"""Loading and validating the declarative rules file (TOML).

A rule is an id, a severity, an escalation timeout, a text template and one or
more `when` clauses, any of which fires it. Clause kinds are a closed set so a
typo is refused at start with the rule and field named, not ignored at 2am.
"""

from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aggregator.concerns.vocab import AgencyType, Category, ChildStatus
from alerts.tomlfile import parse_model, read_text

DEFAULT_RULES = Path(__file__).with_name("rules.toml")
TEMPLATE_FIELDS = {
    "concerns": 0,
    "agencies": 0,
    "window_days": 0,
    "window_start": "2000-01-01",
    "window_end": "2000-01-01",
}


class RulesError(ValueError):
    """The rules file cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Selector(_Strict):
    """Which concerns a clause looks at; an empty selector takes any concern."""

    categories: tuple[Category, ...] | None = None
    exclude_categories: tuple[Category, ...] = ()
    agency_types: tuple[AgencyType, ...] | None = None


class CountClause(Selector):
    """At least `min_concerns` concerns from at least `min_agencies` agencies."""

    kind: Literal["count"]
    window_days: int = Field(ge=1, le=3650)
    min_concerns: int = Field(default=1, ge=1)
    min_agencies: int = Field(default=1, ge=1)
    date: Literal["observed", "received"] = "observed"
    include_no_further_action: bool = True


class InfantClause(_Strict):
    """A concern of `categories` about a young baby or a child who cannot move about."""

    kind: Literal["infant"]
    categories: tuple[Category, ...]
    max_age_months: int = Field(ge=1, le=36)
    not_mobile: bool = True
    window_days: int = Field(ge=1, le=3650)


class PairClause(_Strict):
    """A concern matching `first` and another matching `second` in one window."""

    kind: Literal["pair"]
    window_days: int = Field(ge=1, le=3650)
    first: Selector
    second: Selector = Selector()
    other_agency: bool = False


class NewAdultClause(_Strict):
    """An adult named for the first time after the child was already known."""

    kind: Literal["new_adult"]
    window_days: int = Field(ge=1, le=3650)


class StatusClause(_Strict):
    """Any concern received about a child holding one of `statuses`."""

    kind: Literal["status"]
    statuses: tuple[ChildStatus, ...]
    window_days: int = Field(ge=1, le=3650)


class HouseholdClause(_Strict):
    """Concerns about several children sharing an address or an adult."""

    kind: Literal["household"]
    window_days: int = Field(ge=1, le=3650)
    min_children: int = Field(default=2, ge=2)
    min_agencies: int = Field(default=1, ge=1)


class NewAgencyClause(_Strict):
    """Not evaluated alone: folds a new agency's concern into an open alert."""

    kind: Literal["new_agency"]


Clause = Annotated[
    CountClause
    | InfantClause
    | PairClause
    | NewAdultClause
    | StatusClause
    | HouseholdClause
    | NewAgencyClause,
    Field(discriminator="kind"),
]


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{2,59}$")
    severity: Literal["red", "amber"] = "amber"
    escalate_after_hours: float = Field(default=24, ge=0)
    notify_on_update: bool = False
    text: str = Field(min_length=1, max_length=1000)
    when: tuple[Clause, ...] = Field(min_length=1)

    @cached_property  # read for every child a sweep evaluates
    def folds_new_agencies(self) -> bool:
        return any(isinstance(c, NewAgencyClause) for c in self.when)

    @model_validator(mode="after")
    def _valid(self) -> "Rule":
        if self.folds_new_agencies and len(self.when) > 1:
            raise ValueError("a new_agency clause must be the rule's only clause")
        try:
            self.text.format(**TEMPLATE_FIELDS)
        except (KeyError, IndexError, ValueError) as exc:
            allowed = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            raise ValueError(f"text uses an unknown placeholder {exc}; allowed: {allowed}") from exc
        return self

    def render(self, **values: object) -> str:
        return self.text.format(**{**TEMPLATE_FIELDS, **values})


class Escalation(_Strict):
    levels: int = Field(default=2, ge=1, le=5)


class RuleSet(_Strict):
    version: str = Field(min_length=1, max_length=40)
    escalation: Escalation = Escalation()
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "RuleSet":
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique; repeated: {', '.join(dupes)}")
        if sum(r.folds_new_agencies for r in self.rules) > 1:
            raise ValueError("at most one rule may have a new_agency clause")
        return self

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @cached_property
    def evaluated(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if not r.folds_new_agencies)

    @cached_property
    def household_rules(self) -> tuple[Rule, ...]:
        """The rules that look at other children of the household, whose findings
        change when a household member's concerns do."""
        return tuple(r for r in self.evaluated if any(c.kind == "household" for c in r.when))

    @cached_property
    def new_agency_rule(self) -> Rule | None:
        return next((r for r in self.rules if r.folds_new_agencies), None)

    @cached_property
    def max_window_days(self) -> int:
        return max((getattr(c, "window_days", 0) for r in self.rules for c in r.when), default=0)


def _describe(exc: ValidationError, data: dict[str, object]) -> str:
    lines = []
    rules = data.get("rules")
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rule_list = rules if isinstance(rules, list) else []
            rid = rule_list[loc[1]].get("id", "?") if loc[1] < len(rule_list) else "?"
            where = f"rule {rid!r}: " + ".".join(str(p) for p in loc[2:])
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Parse and validate; every problem is reported at once, with where it is."""
    return parse_model(text, source, RuleSet, RulesError, "rules", _describe)


def load_rules(path: Path | None = None) -> RuleSet:
    """The shipped defaults unless `path` (setting AGGREGATOR_RULES_PATH) names another file."""
    path = path or DEFAULT_RULES
    return parse_rules(read_text(path, RulesError, "rules"), str(path))


@lru_cache(maxsize=4)
def cached_rules(path: Path | None) -> RuleSet:
    return load_rules(path)
