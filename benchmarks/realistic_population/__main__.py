"""`python benchmarks/realistic_population --children 2000`: describe a population."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realistic_population import main

main()
