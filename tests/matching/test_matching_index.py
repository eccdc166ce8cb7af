from matching import (
    ChildRecord,
    Decision,
    MatchModel,
    OnlineIndex,
    blocking_keys,
    cluster,
    deduplicate,
    link,
)
from matching.synthetic import Population, generate_population

ALFIE = ChildRecord(
    "a",
    "Alfie",
    "Smith",
    (),
    "2019-03-07",
    "male",
    "9434765919",
    None,
    "LS6 2AB",
    "12 Hyde Park Rd",
    "Leeds",
)


def test_blocking_keys_are_stable_strings() -> None:
    keys = blocking_keys(ALFIE)
    assert "nhs:9434765919" in keys
    assert "pc:LS62AB" in keys
    assert any(k.startswith("sx:S530|2019|") for k in keys)
    assert any(k.startswith("dob:2019-03-07|") for k in keys)
    assert blocking_keys(ALFIE) == keys


def test_plausible_variants_share_a_key() -> None:
    variants = [
        ChildRecord("b", "Alfred", "Smyth-Jones", (), "2019-07-03"),
        ChildRecord("c", "Smith", "Alfie", (), "2019-03-07"),
        ChildRecord("d", None, None, (), None, postcode="ls62ab"),
        ChildRecord(
            "e", "Alfie", "Smith", (), None, postcode=None, address_line1="12 Hyde Park Road"
        ),
        ChildRecord("f", "Alfie", "Smithe", (), "2019-03-08"),
        # both names changed (adopted, known by another name), same birthday and town
        ChildRecord("g", "Bobby", "Jones", (), "2019-07-03", town="leeds"),
    ]
    for variant in variants:
        assert blocking_keys(ALFIE) & blocking_keys(variant), variant


def test_blocking_recall_on_a_synthetic_population(population: Population) -> None:
    index = OnlineIndex()
    for record in population.records:
        index.add(record)
    by_id = {r.id: r for r in population.records}
    truth = population.true_pairs()
    found = sum(b in index.candidates(by_id[a]) for a, b in truth)
    assert found / len(truth) > 0.99


def test_index_returns_best_candidates_first_and_never_the_record_itself() -> None:
    index = OnlineIndex()
    twin = ChildRecord(
        "t",
        "Oscar",
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
    stranger = ChildRecord("s", "Mia", "Okafor", (), "2015-01-01", postcode="LS6 2AB")
    for record in (ALFIE, twin, stranger):
        index.add(record)
    query = ChildRecord("q", "Alfred", "Smith", (), "2019-07-03", postcode="LS6 2AB")
    results = index.query(query, limit=2)
    assert results[0][0] == "a"
    assert len(results) == 2
    assert "a" not in index.candidates(ALFIE)
    assert index.model.decide(results[0][1]) == Decision.LINK


def test_index_replaces_and_removes() -> None:
    index = OnlineIndex()
    index.add(ALFIE)
    moved = ChildRecord("a", "Alfie", "Smith", (), "2019-03-07", postcode="BD1 1AA")
    index.add(moved)
    assert len(index) == 1
    probe = ChildRecord("p", "Zed", "Zulu", (), None, postcode="LS6 2AB")
    assert index.candidates(probe) == []
    index.remove("a")
    assert "a" not in index
    assert index.candidates(ChildRecord("x", "Alfie", "Smith", (), "2019-03-07")) == []


def test_deduplicate_finds_people_without_merging_siblings(population: Population) -> None:
    small = generate_population(300, seed=9)
    groups = deduplicate(small.records)
    assert sorted(len(g) for g in groups) and sum(len(g) for g in groups) == len(small.records)
    mixed = [g for g in groups if len({small.child_of[r] for r in g}) > 1]
    assert len(mixed) <= 2
    assert len(groups) < len(small.records) * 0.6


def test_link_pairs_across_two_lists() -> None:
    small = generate_population(200, records_per_child=2, seed=3)
    left = small.records[0::2]
    right = small.records[1::2]
    pairs = link(left, right)
    correct = sum(small.same_child(a, b) for a, b, _ in pairs)
    assert correct / len(pairs) > 0.99
    assert correct > 0.8 * len(left)


def test_cluster_does_not_chain_through_one_weak_record() -> None:
    pairs = [
        ("twin-a", "j-smith", 0.995),
        ("j-smith", "twin-b", 0.999),
        ("twin-a", "twin-b", 0.0001),
        ("twin-b", "twin-b-gp", 0.9999),
    ]
    groups = cluster(pairs, link_threshold=0.99)
    assert {"twin-b", "twin-b-gp", "j-smith"} in groups
    assert {"twin-a"} in groups


def test_trained_model_is_accurate_on_synthetic_data(
    population: Population, trained_model: MatchModel
) -> None:
    from matching import score_candidates

    scored = score_candidates(population.records, model=trained_model)
    linked = {tuple(sorted((a, b))) for a, b, p in scored if p >= trained_model.link_threshold}
    truth = population.true_pairs()
    precision = len(linked & truth) / len(linked)
    recall = len(linked & truth) / len(truth)
    assert precision > 0.995
    assert recall > 0.85
