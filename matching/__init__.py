"""Probabilistic record linkage for children's records from many agencies.

A Fellegi-Sunter model with explainable per-field weights, blocking keys for a
database index, an in-memory online index, batch deduplication and linkage, and
clustering that does not chain strangers. See matching/README.md.
"""

from matching.batch import deduplicate, link, score_candidates
from matching.blocking import blocking_keys
from matching.cluster import cluster
from matching.index import OnlineIndex
from matching.model import Contribution, Decision, MatchModel, MatchScore, TermFrequencies
from matching.records import ChildRecord

__all__ = [
    "ChildRecord",
    "Contribution",
    "Decision",
    "MatchModel",
    "MatchScore",
    "OnlineIndex",
    "TermFrequencies",
    "blocking_keys",
    "cluster",
    "deduplicate",
    "link",
    "score_candidates",
]
