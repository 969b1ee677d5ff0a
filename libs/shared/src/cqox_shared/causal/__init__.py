"""Causal vocabulary in code: covariate matrices, treatment coding, propensity models."""
