"""Identity resolution and the full picture: which concerns are about the same child.

`linking.submit_linked` is the intake path: it stores a concern and links its child; `review` applies people's
decisions (which always outrank the algorithm); `picture` assembles one child's
full picture from a graph built around that child only. The HTTP endpoints
are in `routes.py`.
"""

from aggregator.children.linking import LinkResult, submit_linked
from aggregator.children.models import Child, PairDecision, ReviewItem

__all__ = ["Child", "LinkResult", "PairDecision", "ReviewItem", "submit_linked"]
