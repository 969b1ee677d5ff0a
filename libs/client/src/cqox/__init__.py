"""CQOx client: the Python SDK and the `cqox` command line."""
