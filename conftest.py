"""Root pytest configuration: real-infrastructure fixtures for every package's tests."""

pytest_plugins = ["cqox_stack.testing"]
