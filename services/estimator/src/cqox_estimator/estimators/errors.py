"""The one error an estimator raises when the data cannot support an estimate."""

from __future__ import annotations

# Fewest rows each treatment arm needs (a synthetic control lowers it for its one treated unit).
MIN_ROWS_PER_ARM = 10


class EstimationError(Exception):
    """The data cannot support this estimate; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BinaryTreatmentRequired(EstimationError):
    """The method needs a binary treatment but the column has more levels.

    The caller, which knows the registry, adds which methods would accept it (`with_hint`).
    """

    def with_hint(self, accepting: list[str]) -> EstimationError:
        """The same refusal, naming the methods that accept a multi-valued treatment."""
        if not accepting:
            return self
        return EstimationError(
            f"{self.reason}; methods that accept a multi-valued treatment: {', '.join(accepting)}"
        )
