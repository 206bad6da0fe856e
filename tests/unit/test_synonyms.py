"""The synonyms file: parsed strictly, inlined into the jobs settings, part of the digest."""

from __future__ import annotations

import pytest

from indexer.store.schema import load_jobs_mapping
from indexer.store.synonyms import SYNONYM_FILTER, SynonymsError, read_synonyms


def test_rules_skip_comments_and_blank_lines_and_are_lower_cased() -> None:
    text = "# a comment\n\nK8s, Kubernetes\npy => python  # one way\n"
    assert read_synonyms(text) == ["k8s, kubernetes", "py => python"]


@pytest.mark.parametrize("line", ["a, , b", "a => b => c", "=> b", "a,"])
def test_a_malformed_rule_names_its_line(line: str) -> None:
    with pytest.raises(SynonymsError, match="line 2"):
        read_synonyms(f"ok, fine\n{line}\n")


def test_the_shipped_rules_reach_the_search_analyzer_filter() -> None:
    spec = load_jobs_mapping()
    rules = spec.settings["analysis"]["filter"][SYNONYM_FILTER]["synonyms"]
    assert "k8s, kubernetes" in rules
    assert SYNONYM_FILTER in spec.settings["analysis"]["analyzer"]["english_search"]["filter"]
