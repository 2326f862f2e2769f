"""Template text that Django would print as it stands instead of reading it."""

from __future__ import annotations

from tests.servers import ROOT


def test_no_short_comment_runs_over_a_line():
    # Django's {# … #} comment ends on the line it starts; one split over two lines reaches the page
    # as text. Longer notes go in {% comment %}.
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "{#" in line and "#}" not in line.split("{#", 1)[1]
    ]
    assert found == []
