"""CQOx event contracts. Import a version: `from cqox_contracts import v1`."""
