"""Forest and love plots: valid PNGs of a predictable size, robust to odd inputs."""

from __future__ import annotations

import io
import math

import matplotlib.image
import numpy as np
import pytest

from cqox_contracts.v1.models import EstimateResult, GateResult
from cqox_visualization.figures import (
    forest_plot_png,
    forest_plot_size,
    love_plot_png,
    love_plot_size,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def estimate(method: str, value: float, half_width: float | None = 0.3) -> EstimateResult:
    return EstimateResult(
        method=method,
        estimand="ATE",
        estimate=value,
        std_error=None if half_width is None else half_width / 1.96,
        ci_lower=None if half_width is None else value - half_width,
        ci_upper=None if half_width is None else value + half_width,
        p_value=0.01,
        n=500,
        inference="HC1 robust",
    )


def balance_gate(details: dict[str, float | str | None], threshold: float | None = 0.1) -> GateResult:
    return GateResult(
        name="balance_smd",
        category="causal",
        threshold=threshold,
        value=0.12,
        passed=False,
        severity="warning",
        details=details,
    )


def decode(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 0 and pixels.shape[1] > 0
    return pixels


def ink_share(pixels: np.ndarray) -> float:
    """Share of pixels that are not white: a blank figure has almost none."""
    return float((pixels[..., :3] < 0.95).any(axis=-1).mean())


@pytest.mark.parametrize("n_methods", [1, 2, 7, 30])
def test_forest_plot_is_a_png_whose_height_grows_with_the_methods(n_methods: int) -> None:
    estimates = [estimate(f"method_{i}", 1.0 + 0.1 * i) for i in range(n_methods)]
    pixels = decode(forest_plot_png(estimates))
    assert forest_plot_size(n_methods) == (1080, 228 + 51 * n_methods)
    assert (pixels.shape[1], pixels.shape[0]) == forest_plot_size(n_methods)
    assert ink_share(pixels) > 0.01


def test_forest_plot_handles_missing_and_non_finite_values() -> None:
    estimates = [
        estimate("ols", 2.0),
        estimate("forest", 2.2, None),
        estimate("broken", math.nan),
        EstimateResult(
            method="half_ci",
            estimand="ATT",
            estimate=1.5,
            std_error=None,
            ci_lower=math.inf,
            ci_upper=None,
            p_value=None,
            n=10,
            inference="none",
        ),
    ]
    decode(forest_plot_png(estimates, reference=2.0, reference_label="true effect"))
    decode(forest_plot_png([estimate("only_point", 0.0, None)]))
    decode(forest_plot_png(estimates, reference=math.nan))


def test_forest_plot_flags_change_the_picture_and_output_is_deterministic() -> None:
    estimates = [estimate("ols", 2.0), estimate("ipw", 2.6), estimate("傾向スコア", 1.9)]
    plain = forest_plot_png(estimates)
    flagged = forest_plot_png(estimates, flagged={"ipw": ["balance_smd", "agreement"]})
    assert plain != flagged
    assert flagged == forest_plot_png(estimates, flagged={"ipw": ["balance_smd", "agreement"]})
    # The warning colour (#D55E00) appears only when a method is flagged.
    warning = np.array([0xD5, 0x5E, 0x00]) / 255

    def has_warning_colour(png: bytes) -> bool:
        rgb = decode(png)[..., :3]
        return bool((np.abs(rgb - warning).max(axis=-1) < 0.02).any())

    assert has_warning_colour(flagged)
    assert not has_warning_colour(plain)


def test_forest_plot_without_estimates_is_a_small_placeholder() -> None:
    pixels = decode(forest_plot_png([]))
    assert (pixels.shape[1], pixels.shape[0]) == forest_plot_size(1)


def test_love_plot_from_balance_gate() -> None:
    details: dict[str, float | str | None] = {
        "smd_before:age": 0.42,
        "smd_after:age": 0.03,
        "smd_before:income": -0.31,
        "smd_after:income": -0.14,
        "smd_before:売上高": 0.22,
        "smd_after:売上高": 0.05,
        "smd_after:only_after": 0.01,
        "max_smd_after": 0.14,
        "smd_before:note": "not a number",
        "smd_before:missing": None,
    }
    other = GateResult(name="overlap", category="causal", passed=True, severity="error")
    png = love_plot_png([other, balance_gate(details)])
    assert png is not None
    pixels = decode(png)
    # Four covariates with a number: age, income, 売上高, only_after.
    assert (pixels.shape[1], pixels.shape[0]) == love_plot_size(4) == (960, 228 + 36 * 4)
    assert love_plot_png([balance_gate(details, threshold=None)]) is not None


def test_love_plot_caps_the_number_of_covariates() -> None:
    details: dict[str, float | str | None] = {}
    for i in range(100):
        details[f"smd_before:x{i}"] = i / 100
        details[f"smd_after:x{i}"] = i / 1000
    png = love_plot_png([balance_gate(details)])
    assert png is not None
    assert decode(png).shape[:2] == (love_plot_size(100)[1], 960)
    assert love_plot_size(100) == love_plot_size(40)


def test_love_plot_is_none_without_gate_or_covariates() -> None:
    assert love_plot_png([]) is None
    other = GateResult(name="overlap", category="causal", passed=True, severity="error")
    assert love_plot_png([other]) is None
    assert love_plot_png([balance_gate({"max_smd_after": 0.2})]) is None
