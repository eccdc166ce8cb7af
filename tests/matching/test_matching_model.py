import json
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import ChildRecord, Decision, MatchModel, MatchScore
from matching.normalise import nhs_check_digit

MODEL = MatchModel.default()

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=12)
DATE = st.dates(min_value=date(2000, 1, 1), max_value=date(2025, 12, 31)).map(date.isoformat)
POSTCODE = st.sampled_from(["LS6 2AB", "LS6 2AD", "BD1 1AA", "M1 1AE", "2119", None])
ADDRESS = st.sampled_from(["12 Hyde Park Road", "12 Hyde Park Rd", "3 Mill Lane", None])


@st.composite
def nhs_numbers(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    check = nhs_check_digit(body)
    if check is None:
        body = body[:8] + str((int(body[8]) + 1) % 10)
        check = nhs_check_digit(body)
    return body + str(check) if check is not None else "9434765919"


@st.composite
def records(draw: st.DrawFn, record_id: str = "a", complete: bool = False) -> ChildRecord:
    optional = (lambda s: s) if complete else (lambda s: st.one_of(st.none(), s))
    return ChildRecord(
        id=record_id,
        given_name=draw(optional(NAME)),
        family_name=draw(optional(NAME)),
        other_names=tuple(draw(st.lists(NAME, max_size=2))),
        date_of_birth=draw(optional(DATE)),
        sex=draw(st.sampled_from(["male", "female", "unknown", None])),
        nhs_number=draw(st.one_of(st.none(), nhs_numbers())),
        upn=draw(st.sampled_from([None, "A801200001001", "K801200001002"])),
        postcode=draw(POSTCODE),
        address_line1=draw(ADDRESS),
        town=draw(st.sampled_from(["Leeds", "Bradford", None])),
    )


def sums_to_weight(score: MatchScore) -> bool:
    total = score.prior_bits + sum(c.bits for c in score.contributions)
    return abs(total - score.weight) < 1e-9


@settings(max_examples=300, deadline=None)
@given(records("a"), records("b"))
def test_score_is_symmetric(a: ChildRecord, b: ChildRecord) -> None:
    assert abs(MODEL.score(a, b).weight - MODEL.score(b, a).weight) < 1e-9


@settings(max_examples=300, deadline=None)
@given(records("a", complete=True))
def test_a_record_with_name_and_date_of_birth_links_to_itself(a: ChildRecord) -> None:
    assert MODEL.decide(MODEL.score(a, _copy(a, "copy"))) == Decision.LINK


def _copy(record: ChildRecord, new_id: str) -> ChildRecord:
    fields = {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]
    fields["id"] = new_id
    return ChildRecord(**fields)


@settings(max_examples=300, deadline=None)
@given(records("a"), records("b"), nhs_numbers(), nhs_numbers())
def test_a_disagreeing_identifier_never_raises_the_score(
    a: ChildRecord, b: ChildRecord, first: str, second: str
) -> None:
    if sum(x != y for x, y in zip(first, second, strict=True)) < 2:
        return
    a = _with(a, nhs_number=first)
    without = MODEL.score(a, _with(b, nhs_number=None)).weight
    with_other = MODEL.score(a, _with(b, nhs_number=second)).weight
    assert with_other <= without + 1e-9


@settings(max_examples=300, deadline=None)
@given(records("a"), records("b"))
def test_explanations_add_up_to_the_weight(a: ChildRecord, b: ChildRecord) -> None:
    score = MODEL.score(a, b)
    assert sums_to_weight(score)
    assert len(score.explain()) == len(score.contributions) + 2
    fa, fb = MODEL.features(a), MODEL.features(b)
    assert abs(MODEL.weight_features(fa, fb) - score.weight) < 1e-9


def _with(record: ChildRecord, **changes: object) -> ChildRecord:
    fields = {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]
    fields.update(changes)
    return ChildRecord(**fields)


ALFIE = ChildRecord(
    "a",
    "Alfie",
    "Smith",
    (),
    "2019-03-07",
    "male",
    None,
    None,
    "LS6 2AB",
    "12 Hyde Park Rd",
    "Leeds",
)


def test_explanation_reads_like_a_sentence() -> None:
    other = _with(
        ALFIE,
        id="b",
        given_name="Alfred",
        date_of_birth="2019-07-03",
        postcode=None,
        address_line1="40 Mill Lane",
        nhs_number=None,
    )
    lines = MODEL.score(ALFIE, other).explain()
    assert any(line.startswith("date of birth: day and month swapped, +") for line in lines)
    assert any(line.startswith("given name: nickname") for line in lines)


def test_twins_and_siblings_do_not_link() -> None:
    twin = _with(ALFIE, id="t", given_name="Oscar")
    opposite_sex_twin = _with(ALFIE, id="u", given_name="Amelia", sex="female")
    sibling = _with(ALFIE, id="s", given_name="Harry", date_of_birth="2016-11-02")
    # one twin's record with given and family names swapped: "Smith Oscar"
    swapped_twin = _with(ALFIE, id="w", given_name="Smith", family_name="Oscar")
    for other in (twin, opposite_sex_twin, sibling, swapped_twin):
        assert MODEL.decide(MODEL.score(ALFIE, other)) != Decision.LINK
    assert MODEL.decide(MODEL.score(ALFIE, sibling)) == Decision.NO_MATCH


def test_different_valid_nhs_numbers_are_strong_evidence_against() -> None:
    a = _with(ALFIE, nhs_number="9434765919")
    b = _with(ALFIE, id="b", nhs_number="4010232137")
    score = MODEL.score(a, b)
    nhs = next(c for c in score.contributions if c.field == "nhs_number")
    assert nhs.level == "different_valid" and nhs.bits < -10
    assert MODEL.decide(score) != Decision.LINK


def test_renamed_child_links_and_moved_renamed_child_goes_to_review() -> None:
    renamed = _with(ALFIE, id="r", given_name="ALFRED", family_name="Smyth-Jones")
    assert MODEL.decide(MODEL.score(ALFIE, renamed)) == Decision.LINK
    moved = _with(
        ALFIE,
        id="m",
        given_name="Alfie",
        postcode="BD1 1AA",
        address_line1="3 Mill Lane",
        town="Bradford",
        nhs_number=None,
    )
    assert MODEL.decide(MODEL.score(ALFIE, moved)) == Decision.LINK
    both = _with(renamed, id="b", postcode="BD1 1AA", address_line1="3 Mill Lane")
    assert MODEL.decide(MODEL.score(ALFIE, both)) != Decision.NO_MATCH


def test_rare_names_weigh_more_than_common_ones() -> None:
    model = MatchModel.default()
    people = [
        ChildRecord(str(i), "Jack", "Smith" if i % 1000 else "Pickersgill") for i in range(2000)
    ]
    model.term_frequencies.update(people)
    common = model.score(
        ChildRecord("a", family_name="Smith"), ChildRecord("b", family_name="Smith")
    )
    rare = model.score(
        ChildRecord("a", family_name="Pickersgill"), ChildRecord("b", family_name="Pickersgill")
    )
    assert rare.weight > common.weight
    assert "rare name" in rare.contributions[0].label


def test_decide_uses_both_thresholds() -> None:
    assert MODEL.decide(0.999) == Decision.LINK
    assert MODEL.decide((MODEL.link_threshold + MODEL.review_threshold) / 2) == Decision.REVIEW
    assert MODEL.decide(0.01) == Decision.NO_MATCH
    assert Decision.LINK == "link"


def test_model_round_trips_through_json(trained_model: MatchModel) -> None:
    copy = MatchModel.from_dict(json.loads(json.dumps(trained_model.to_dict())))
    other = _with(ALFIE, id="b", given_name="Alfred")
    assert copy.m == trained_model.m and copy.u_household == trained_model.u_household
    assert (
        copy.score(ALFIE, other).weight
        == MatchModel.from_dict(copy.to_dict()).score(ALFIE, other).weight
    )


def test_training_keeps_probabilities_valid(trained_model: MatchModel) -> None:
    for table in (trained_model.m, trained_model.u, trained_model.u_household):
        for values in table.values():
            assert all(0 < v < 1 for v in values)


def test_a_given_name_in_the_family_name_field_is_evidence_for() -> None:
    a = ChildRecord("a", "Thomas", "Brain", (), "1985-11-27")
    b = ChildRecord("b", "Dixon", "Thomas", (), "1985-11-27")
    given = next(c for c in MODEL.score(a, b).contributions if c.field == "given_name")
    assert given.level == "crossed" and given.bits > 0
    assert MODEL.score(a, b).weight == MODEL.score(b, a).weight


def test_the_sibling_penalty_is_learned_from_the_data(trained_model: MatchModel) -> None:
    # the synthetic population is full of siblings: the penalty stays near its full size
    assert trained_model.sibling_penalty < -6
    # data whose records share homes only with themselves (one person, a replaced
    # given name now and then, as in FEBRL): different given names at one home are
    # mostly the same person, and the penalty fades
    people = []
    for i in range(600):
        surname = f"fam{i:03d}x"
        dob = f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        home = {"address_line1": f"{i + 1} Mill Lane", "town": "Leeds"}
        people.append(ChildRecord(f"{i}a", "Alice", surname, (), dob, **home))
        given = "Zara" if i % 3 == 0 else "Alice"
        people.append(ChildRecord(f"{i}b", given, surname, (), dob, **home))
    model = MatchModel.default()
    model.estimate_u(people)
    model.estimate_m(people)
    assert -1 < model.sibling_penalty <= 0
    restored = MatchModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert restored.sibling_penalty == model.sibling_penalty
