import pytest

from matching import ChildRecord
from matching.comparisons import (
    AddressComparison,
    Comparison,
    DateOfBirthComparison,
    FamilyNameComparison,
    GivenNameComparison,
    NhsNumberComparison,
    PostcodeComparison,
    SexComparison,
    UpnComparison,
    same_place,
)
from matching.features import Features


def level(comparison: Comparison, a: ChildRecord, b: ChildRecord) -> str | None:
    found = comparison.compare(Features(a), Features(b))
    return None if found is None else comparison.levels[found].name


def rec(**fields: object) -> ChildRecord:
    return ChildRecord(id=str(fields.pop("id", "x")), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("Alfie", "ALFIE", "exact"),
        ("Alfie", "Alfred", "nickname"),
        ("Kayleigh", "Kayley", "nickname"),
        ("Charlote", "Charlotte", "jaro_winkler_92"),
        ("J", "Jack", "initial"),
        ("J", "Mia", "different"),
        ("Oliver", "Amelia", "different"),
        (None, "Amelia", None),
    ],
)
def test_given_name_levels(left: str | None, right: str | None, expected: str | None) -> None:
    assert level(GivenNameComparison(), rec(given_name=left), rec(given_name=right)) == expected


def test_given_name_swapped_with_family_name() -> None:
    a = rec(given_name="Smith", family_name="Alfie")
    b = rec(given_name="Alfie", family_name="Smith")
    assert level(GivenNameComparison(), a, b) == "swapped"
    assert level(FamilyNameComparison(), a, b) == "swapped"


def test_given_name_matches_a_middle_name() -> None:
    a = rec(given_name="Florence", family_name="Harrison")
    b = rec(given_name="Rosie", family_name="Harrison", other_names=("Florence",))
    assert level(GivenNameComparison(), a, b) == "middle_name"


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("Smith", "smith", "exact"),
        ("Smith", "Smyth-Jones", "phonetic"),
        ("Jones", "Smyth-Jones", "shared_part"),
        ("Smith", "Smyth", "phonetic"),
        ("Smith", "Smithe", "jaro_winkler_92"),
        ("Smith", "Okafor", "different"),
    ],
)
def test_family_name_levels(left: str, right: str, expected: str) -> None:
    assert level(FamilyNameComparison(), rec(family_name=left), rec(family_name=right)) == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("2019-03-07", "2019-03-07", "exact"),
        ("2019-03-07", "2019-07-03", "day_month_swapped"),
        ("2019-03-07", "2019-03-08", "one_digit"),
        ("2019-03-07", "2019-03", "partial_month"),
        ("2019-03-07", "2019", "partial_year"),
        ("2019-03-07", "2019-03-21", "year_month"),
        ("2019-03-07", "2018-11-30", "year_within_one"),
        ("2019-03-07", "2012-11-30", "different"),
        ("2019-03-07", None, None),
    ],
)
def test_date_of_birth_levels(left: str, right: str | None, expected: str | None) -> None:
    got = level(DateOfBirthComparison(), rec(date_of_birth=left), rec(date_of_birth=right))
    assert got == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("LS6 2AB", "ls62ab", "unit"),
        ("LS6 2AB", "LS6 2AD", "one_character"),
        ("LS6 2AB", "LS6 2QT", "sector"),
        ("LS6 2AB", "LS6 4QT", "district"),
        ("LS6 2AB", "M1 1AA", "different"),
    ],
)
def test_postcode_levels(left: str, right: str, expected: str) -> None:
    assert level(PostcodeComparison(), rec(postcode=left), rec(postcode=right)) == expected


def test_postcode_not_counted_twice_when_the_address_agrees() -> None:
    a = rec(postcode="LS6 2AB", address_line1="12 Hyde Park Road")
    b = rec(postcode="LS6 2AB", address_line1="12 Hyde Park Rd")
    assert level(PostcodeComparison(), a, b) is None
    assert level(AddressComparison(), a, b) == "exact"
    assert same_place(Features(a), Features(b))


def test_address_levels() -> None:
    a = rec(address_line1="12 Hyde Park Road")
    assert level(AddressComparison(), a, rec(address_line1="12 Hyde Prak Road")) == (
        "number_and_street"
    )
    assert level(AddressComparison(), a, rec(address_line1="14 Hyde Park Road")) == "street"
    assert level(AddressComparison(), a, rec(address_line1="3 Mill Lane")) == "different"


def test_sex_levels() -> None:
    assert level(SexComparison(), rec(sex="male"), rec(sex="M")) == "same"
    assert level(SexComparison(), rec(sex="male"), rec(sex="female")) == "different"
    assert level(SexComparison(), rec(sex="male"), rec(sex="unknown")) is None


def test_nhs_number_levels() -> None:
    valid = rec(nhs_number="943 476 5919")
    assert level(NhsNumberComparison(), valid, rec(nhs_number="9434765919")) == "exact"
    assert level(NhsNumberComparison(), valid, rec(nhs_number="9434765911")) == "one_typo"
    assert level(NhsNumberComparison(), valid, rec(nhs_number="4010232137")) == "different_valid"
    assert level(NhsNumberComparison(), valid, rec(nhs_number="1234567890")) == "different"


def test_upn_levels() -> None:
    a = rec(upn="A801200001001")
    assert level(UpnComparison(), a, rec(upn="a801200001001")) == "exact"
    assert level(UpnComparison(), a, rec(upn="A801200001002")) == "one_typo"
    assert level(UpnComparison(), a, rec(upn="Z999999999999")) == "different"
