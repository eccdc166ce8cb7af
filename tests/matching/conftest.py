"""Fixtures for the matching tests: small synthetic populations, built once."""

from __future__ import annotations

import pytest

from matching import MatchModel
from matching.synthetic import Population, generate_population


@pytest.fixture(scope="session")
def population() -> Population:
    return generate_population(1500, records_per_child=(1, 4), seed=5)


@pytest.fixture(scope="session")
def trained_model(population: Population) -> MatchModel:
    model = MatchModel.default()
    model.term_frequencies.update(population.records)
    model.estimate_u(population.records, max_pairs=30_000)
    model.estimate_m(population.records)
    return model
