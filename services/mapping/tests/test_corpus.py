"""The issue's targets, measured on the labelled corpus (the bench prints the same numbers)."""

from __future__ import annotations

import pytest
from mapping_corpus import LANGUAGES, TARGET_ROLES, Evaluation, build_corpus, evaluate

THRESHOLD = 0.6


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    """Every column set of the corpus mapped once."""
    return evaluate(build_corpus(), THRESHOLD)


def test_corpus_is_large_multilingual_and_deterministic() -> None:
    corpus = build_corpus()
    assert len(corpus) >= 150
    assert {item.language for item in corpus} == set(LANGUAGES)
    for language in LANGUAGES:
        assert sum(item.language == language for item in corpus) >= 15
    again = build_corpus()
    assert [c.key for c in corpus] == [c.key for c in again]
    assert all(a.frame.equals(b.frame) for a, b in zip(corpus[:10], again[:10], strict=True))
    assert {"cross_section", "panel", "experiment", "rd", "iv"} <= {c.layout for c in corpus}


@pytest.mark.parametrize("role", TARGET_ROLES)
def test_top1_accuracy_at_least_95_percent_per_role(evaluation: Evaluation, role: str) -> None:
    assert evaluation.accuracy(role) >= 0.95, [
        (o.key, o.truth, o.predicted) for o in evaluation.outcomes if o.role == role and not o.correct
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_is_read(evaluation: Evaluation, language: str) -> None:
    assert evaluation.accuracy(language=language) >= 0.9


def test_no_silent_wrong_guesses(evaluation: Evaluation) -> None:
    silent = evaluation.silent_misses()
    assert not silent, [(o.key, o.role, o.truth, o.predicted, o.confidence) for o in silent]


def test_later_roles_are_found_too(evaluation: Evaluation) -> None:
    confusion = evaluation.confusion
    for role in ("running_variable", "instrument", "region"):
        total = sum(n for (truth, _), n in confusion.items() if truth == role)
        assert confusion.get((role, role), 0) >= 0.8 * total, role


def test_confirmation_is_asked_rarely_when_names_are_informative(evaluation: Evaluation) -> None:
    informative = [item.key for item in build_corpus() if not item.layout.endswith("opaque")]
    asked = [key for key in evaluation.asked if key in informative]
    assert len(asked) <= 0.05 * len(informative), asked
