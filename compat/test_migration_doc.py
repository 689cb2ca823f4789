"""``docs/migration.md`` documents exactly the suite's list of differences.

Its "What differs, and why" section has one labelled entry per
:data:`compat.differences.ALLOWED` entry, in the same order, each giving the
same kind of reason; "What the suite cannot compare" names every
:data:`compat.differences.NOT_COMPARABLE` entry; and every claim under
"What stays the same" names the scenarios that check it.
"""

from __future__ import annotations

import pathlib
import re

from compat import differences
from compat.test_scenarios import SCENARIOS

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "migration.md"


def sections(text: str) -> dict[str, str]:
    """The page's ``## `` sections by title."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def labelled_blocks(body: str) -> list[tuple]:
    """``(label, text)`` for each ``(label)=`` target and the text up to the next."""
    parts = re.split(r"^\(([a-z0-9-]+)\)=$", body, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def bullets(body: str) -> list[str]:
    return [b.strip() for b in re.split(r"^- ", body, flags=re.M)[1:]]


PAGE_SECTIONS = sections(PAGE.read_text(encoding="utf-8"))


def test_the_page_has_its_sections():
    for title in ["What stays the same", "What differs, and why", "What the suite cannot compare"]:
        assert title in PAGE_SECTIONS, title


def test_differences_match_the_suites_list():
    blocks = labelled_blocks(PAGE_SECTIONS["What differs, and why"])
    assert [label for label, _ in blocks] == [entry.id for entry in differences.ALLOWED]


def test_each_difference_gives_its_kind_of_reason():
    blocks = dict(labelled_blocks(PAGE_SECTIONS["What differs, and why"]))
    for entry in differences.ALLOWED:
        why = " ".join(blocks[entry.id].split())
        assert f"*Why*: {entry.kind}" in why, entry.id


def test_what_cannot_be_compared_matches_the_suites_list():
    names = [
        re.match(r"\*\*([a-z0-9-]+)\*\*:", b).group(1)
        for b in bullets(PAGE_SECTIONS["What the suite cannot compare"])
    ]
    assert names == [item.id for item in differences.NOT_COMPARABLE]


def test_every_claim_that_stays_the_same_names_its_scenarios():
    claims = bullets(PAGE_SECTIONS["What stays the same"])
    assert len(claims) >= 8
    for claim in claims:
        named = re.findall(r"`(scn_[a-z0-9_]+)`", claim)
        assert named, f"names no scenario: {claim[:60]}..."
        assert set(named) <= set(SCENARIOS), claim[:60]


def test_a_page_missing_an_entry_is_caught():
    text = PAGE.read_text(encoding="utf-8").replace("(no-flask)=", "")
    blocks = labelled_blocks(sections(text)["What differs, and why"])
    assert [label for label, _ in blocks] != [entry.id for entry in differences.ALLOWED]
