"""The real-data gallery's fast half (issue 12): published datasets uploaded through the HTTP API as a
user would, each scored against its published figure (bench/gallery/datasets.py has the sources
and tolerances; `python -m bench.gallery` runs all of it).

Bar: the headline is inside the tolerance, and every other estimate is inside it or flagged by a
named gate. Datasets that miss it today are strict xfails with the precise reason: when the
platform is fixed the test XPASSes, fails, and the entry must be removed here — a visible flip.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))
gallery = importlib.import_module("bench.gallery.datasets")
harness = importlib.import_module("bench.gallery.harness")
BY_NAME, GALLERY, run_dataset = gallery.BY_NAME, gallery.GALLERY, harness.run_dataset

pytestmark = pytest.mark.integration

# Fast-half datasets that miss the bar today (measured), and why.
MISSES_TODAY: dict[str, str] = {
    "nhefs_smoking": (
        "causal_forest's ATE 4.64 is outside 3.4 ± 1.04 and no gate flags it, while the 14 other "
        "effect estimates lie within 3.16-3.58"
    ),
    "jtrain_grants": (
        "the treatment_arms data gate counts rows: 19 treated firm-years < 20 rejects a 54-firm "
        "2x2 panel DiD whose published estimate is -0.317 (0.164)"
    ),
}

FAST = [d.name for d in GALLERY if d.fast]


def _param(name: str) -> object:
    if name in MISSES_TODAY:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=MISSES_TODAY[name]))
    return name


@pytest.mark.parametrize("name", [_param(n) for n in FAST])
def test_published_dataset_meets_the_bar(api: httpx.Client, tmp_path: Path, name: str) -> None:
    row = run_dataset(api, BY_NAME[name], tmp_path)
    detail = "; ".join(row.reasons) + f" (analysis {row.analysis_id}, design {row.design})"
    assert row.meets_bar, detail


def test_the_gallery_covers_every_claimed_design() -> None:
    """At least 24 datasets, each with a source and a positive tolerance, across the designs."""
    assert len(GALLERY) >= 24
    assert all(d.reference.source and d.reference.tolerance > 0 for d in GALLERY)
    claims = " | ".join(d.claim for d in GALLERY)
    for family in (
        "good overlap",
        "poor overlap",
        "experiment",
        "attrition",
        "multi-arm",
        "staggered panel",
        "2x2 DiD on a panel",
        "repeated cross-sections",
        "one treated unit",
        "IV, binary",
        "IV, continuous",
        "sharp RD",
        "fuzzy RD",
    ):
        assert family in claims, family
