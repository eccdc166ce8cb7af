"""Identity resolution and the full picture: which concerns are about the same child.

`linking.link_record` runs inside every submission; `review` applies people's
decisions (which always outrank the algorithm); `picture` assembles one child's
full picture from a graph built around that child only. The HTTP endpoints
are in `routes.py`.
"""

from aggregator.children.linking import LinkResult, link_record
from aggregator.children.models import Child, PairDecision, ReviewItem

__all__ = ["Child", "LinkResult", "PairDecision", "ReviewItem", "link_record"]
