from matching.normalise import (
    address_tokens,
    name_forms,
    name_tokens,
    nhs_number_valid,
    normalise_sex,
    parse_date,
    split_postcode,
    upn_check_letter,
    upn_valid,
)


def test_name_tokens_strip_titles_accents_and_punctuation() -> None:
    assert name_tokens("Mr. John O'Brien") == ("john", "obrien")
    assert name_tokens("  ZOË ") == ("zoe",)
    assert name_tokens("Smyth-Jones") == ("smyth", "jones")
    assert name_tokens(None) == ()
    assert name_tokens("---") == ()


def test_nicknames_and_spellings_share_a_form() -> None:
    assert name_forms("alfie") & name_forms("alfred")
    assert name_forms("bill") & name_forms("william")
    assert name_forms("kayley") & name_forms("kayleigh")
    assert not name_forms("oliver") & name_forms("amelia")


def test_postcode_split_into_unit_sector_district() -> None:
    assert split_postcode("ls6 2ab") == ("LS62AB", "LS62", "LS6")
    assert split_postcode("SW1A 1AA") == ("SW1A1AA", "SW1A1", "SW1A")
    assert split_postcode("2119") == ("2119", None, None)
    assert split_postcode(" ") is None


def test_dates_keep_their_precision() -> None:
    assert parse_date("2019-03-07") == (2019, 3, 7)
    assert parse_date("2019-03") == (2019, 3, None)
    assert parse_date("2019") == (2019, None, None)
    assert parse_date("20190307") == (2019, 3, 7)
    assert parse_date("07/03/2019") == (2019, 3, 7)
    assert parse_date("2019-13-40") == (2019, None, None)
    assert parse_date("not a date") is None


def test_nhs_modulus_11() -> None:
    assert nhs_number_valid("9434765919")
    assert not nhs_number_valid("9434765918")
    assert not nhs_number_valid("943476591")
    assert not nhs_number_valid(None)


def test_upn_check_letter() -> None:
    body = "801200001001"
    assert upn_valid(upn_check_letter(body) + body)
    wrong = "A" if upn_check_letter(body) != "A" else "B"
    assert not upn_valid(wrong + body)


def test_address_abbreviations_expand() -> None:
    assert address_tokens("12 Hyde Park Rd.") == ("12", "hyde", "park", "road")


def test_sex_only_male_or_female_counts() -> None:
    assert normalise_sex("M") == "male"
    assert normalise_sex("girl") == "female"
    assert normalise_sex("unknown") is None
    assert normalise_sex("other") is None
