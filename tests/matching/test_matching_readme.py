"""The README's example must keep running as the code changes."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "matching" / "README.md"


def test_readme_example_runs() -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    exec(compile(code.group(1), str(README), "exec"), {})
