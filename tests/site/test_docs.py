"""The README is a front door and docs/ the manual: every link between them leads somewhere.

A link is checked the way GitHub would follow it: relative to the page it sits on, to a file or
folder in the repository, and an `#anchor` to a heading of the target page (GitHub's slug of the
heading's text). Links to other sites are not fetched. The README also keeps its size and has the
map of the code near its top, where a newcomer reads.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.servers import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

README_MAX_BYTES = 12_500

# [text](target) and ![alt](target), with an optional "title"; targets have no spaces here.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed (links there are not links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def links(page: Path) -> list[str]:
    return [
        m.group(1) for line in prose_lines(page.read_text()) for m in LINK.finditer(INLINE_CODE.sub("", line))
    ]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text, lower-cased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    for line in prose_lines(page.read_text()):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            # A repeated heading gets -1, -2, ... on GitHub.
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ... another site
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading with that anchor in {dest.name})")
    return broken


def test_the_slugs_follow_githubs_rule():
    assert slug("Webhooks: telling Slack, Teams or your own scripts") == (
        "webhooks-telling-slack-teams-or-your-own-scripts"
    )
    assert slug("On one machine: `python3 dev.py start`") == "on-one-machine-python3-devpy-start"
    assert slug("Tell me when it's ready") == "tell-me-when-its-ready"
    assert slug("12, the budget check") == "12-the-budget-check"


def test_a_broken_link_and_a_missing_anchor_are_caught(tmp_path):
    (tmp_path / "there.md").write_text("# There\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#a-section) [no file](missing.md) [no anchor](there.md#elsewhere)\n"
        "`[in code](missing.md)` [site](https://example.com/x) [self](#page)\n\n# Page\n"
        "```\n[in a block](missing.md)\n```\n"
    )
    assert [b.split(" ")[0] for b in broken_links(page)] == ["missing.md", "there.md#elsewhere"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert links(page), f"{page.relative_to(ROOT)} links nowhere"
    assert broken_links(page) == []


def test_the_docs_index_and_the_readme_reach_every_page():
    index = {(DOCS / unquote(t.partition("#")[0])).resolve() for t in links(DOCS / "README.md")}
    readme = {(ROOT / unquote(t.partition("#")[0])).resolve() for t in links(README)}
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert page.resolve() in index, f"docs/README.md does not link {page.name}"
    assert (DOCS / "README.md").resolve() in readme


def test_the_readme_is_a_front_door_not_the_manual():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size:,} bytes; keep it under {README_MAX_BYTES:,}"


def test_the_map_of_the_code_is_in_the_readmes_first_third():
    text = README.read_text()
    third = len(text) // 3
    heading = re.search(r"^## Map of the code$", text, re.M)
    assert heading is not None and heading.start() <= third, "the map of the code belongs near the top"
    # The map itself, not just its heading: the first row of the module table.
    first_module = re.search(r"^\| `[\w/]+/?` \| .*`\w+\.py`", text, re.M)
    assert first_module is not None and first_module.start() <= third
