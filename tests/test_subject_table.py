"""The README's subject table is the one the services' runtimes declare, and every service has one name."""

from __future__ import annotations

from pathlib import Path

from cqox_contracts.v1 import EVENT_TYPES
from cqox_shared.bus import DEAD_LETTER_PUBLISHES
from cqox_stack.flows import BEGIN, END, render, runtimes
from cqox_stack.stack import SERVICES

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_subject_table_is_generated_from_the_runtimes() -> None:
    text = README.read_text()
    current = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert current == render(runtimes()), "README's subject table is stale: run `make flows`"


def test_every_service_has_one_name_for_stack_durables_and_producer() -> None:
    built = runtimes()  # raises when a runtime's name is not the stack's name for it
    assert [r.service for r in built] == [s.name for s in SERVICES]
    for runtime in built:
        assert runtime.bus.service == runtime.service
        for sub in runtime.subscriptions:
            assert sub.durable(runtime.service).startswith(f"{runtime.service}-")


def test_every_event_class_is_said_by_someone_and_every_heard_class_too() -> None:
    built = runtimes()
    said = set(DEAD_LETTER_PUBLISHES)
    said |= {cls for r in built for sub in r.subscriptions for cls in sub.publishes}
    said |= {cls for r in built for classes in r.publishes.values() for cls in classes}
    assert set(EVENT_TYPES.values()) == said
    assert {sub.hears for r in built for sub in r.subscriptions if sub.stream is None} <= said
