"""`python -m cqox_estimator` runs the estimator (planner, aggregator and/or method pools)."""

from cqox_estimator.app import main

main()
