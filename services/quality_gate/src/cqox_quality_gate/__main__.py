"""`python -m cqox_quality_gate` runs the quality-gate worker."""

from cqox_quality_gate.app import main

main()
