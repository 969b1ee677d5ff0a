"""Datasets: upload a file as a new version, read versions, schemas and profiles, confirm the mapping.
`views` (routes), `service` and `mapping` (functions), `models` (in/out)."""
