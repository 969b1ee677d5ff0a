"""`python -m cqox_mapping` runs the mapping worker."""

from cqox_mapping.app import main

main()
