from matching.normalise import nhs_number_valid
from matching.synthetic import generate_population


def test_generation_is_deterministic() -> None:
    first = generate_population(200, seed=42)
    second = generate_population(200, seed=42)
    assert first.records == second.records
    assert generate_population(200, seed=43).records != first.records


def test_truth_and_households() -> None:
    population = generate_population(2000, records_per_child=(1, 3), seed=1)
    assert len(population.children) == 2000
    assert all(population.child_of[r.id] for r in population.records)
    assert all(nhs_number_valid(c.nhs_number) for c in population.children)
    assert len({c.nhs_number for c in population.children}) == 2000
    twins = [c for c in population.children if c.twin_of]
    assert twins
    by_id = {c.id: c for c in population.children}
    for twin in twins:
        other = by_id[twin.twin_of or ""]
        assert other.date_of_birth == twin.date_of_birth
        assert other.household_id == twin.household_id
        assert other.given_name != twin.given_name
    assert any(len(h.child_ids) > 1 for h in population.households)
    assert all(c.mother_name for c in population.children)
    assert population.true_pairs()
    assert next(population.sibling_pairs())


def test_records_vary_like_real_ones() -> None:
    population = generate_population(3000, records_per_child=3, seed=2)
    records = population.records
    assert any(r.nhs_number is None for r in records)
    assert any(r.date_of_birth and len(r.date_of_birth) == 7 for r in records)
    by_child = {c.id: c for c in population.children}
    swapped = [
        r
        for r in records
        if r.date_of_birth
        and len(r.date_of_birth) == 10
        and r.date_of_birth != by_child[population.child_of[r.id]].date_of_birth
    ]
    assert swapped
    nicknames = [
        r
        for r in records
        if r.given_name
        and len(r.given_name) > 1
        and r.given_name.lower() != by_child[population.child_of[r.id]].given_name.lower()
    ]
    assert len(nicknames) > len(records) * 0.05
