"""Every published number names its source by a citation the project itself explains
(``handgrad.references``), never a file a user's clone does not have."""

from __future__ import annotations

import re

import pytest

from handgrad import families
from handgrad.errors import HandgradError
from handgrad.references import REFERENCES, cite, cited_in, markdown

#: how sources were named before they were citations: files outside the project, issue numbers
PRIVATE = re.compile(r"report 00\d|course-spec|shared/seeds|issue \d+", re.IGNORECASE)


def _sources(fam):
    yield from ((f"section {s.id}", s.source) for s in fam.sections)
    for e in fam.experiments:
        yield from ((f"{e.id}: {t.label}", t.source) for t in e.targets)
        if e.gradcheck_source != "-":
            yield f"{e.id}: gradient check", e.gradcheck_source


@pytest.mark.parametrize("name", sorted(families.names()))
def test_every_source_of_a_family_is_a_citation_or_ours(name):
    fam = families.get(name)
    bad = [(where, src) for where, src in _sources(fam) if PRIVATE.search(src or "")]
    assert not bad, f"sources that point outside the project: {bad}"
    published = [(where, src) for where, src in _sources(fam)
                 if src not in ("-", "ours") and not src.startswith(("handgrad", "configs/"))]
    uncited = [(where, src) for where, src in published if not cited_in([src])]
    assert not uncited, f"published numbers without a known source: {uncited}"
    assert cited_in(src for _, src in _sources(fam))


def test_cite_names_the_source_and_the_place_and_refuses_unknown_keys():
    assert cite("ruggeri2020-a3", "table 2") == "Ruggeri 2020, DD2424 assignment 3 report, table 2"
    with pytest.raises(HandgradError, match="unknown reference 'report-000'"):
        cite("report-000")


def test_references_are_complete_and_rendered_with_anchors():
    for r in REFERENCES.values():
        assert r.author and r.year and r.title and r.assignment and r.reports, r.key
        assert r.kind in ("report", "sheet", "repository"), r.key
        assert not PRIVATE.search(r.reports + r.title), r.key
    text = markdown()
    assert all(f"{{#{key}}}" in text for key in REFERENCES)
    assert len({r.short for r in REFERENCES.values()}) == len(REFERENCES)
