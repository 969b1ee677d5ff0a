"""`python -m cqox_ingest` runs the ingest API."""

from cqox_ingest.app import main

main()
