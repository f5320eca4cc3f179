"""How a sales-email run keeps its search attributes current (the keys are in the run contract).

Every upsert is a history event and a visibility write on the server, so a run publishes as few as
keep the attributes current: the MessageId goes with the first state upsert, the customer with
the status and step, and values already published are not upserted again.
"""

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from models.run_contract import CUSTOMER_ID, MESSAGE_ID, STATUS, STEP


class Publisher:
    """Upserts a run's search attributes (called from workflow code only)."""

    def __init__(self) -> None:
        self._pending: list[SearchAttributeUpdate[Any]] = []
        self._published: dict[str, str] = {}

    def message_id(self, message_id: str) -> None:
        """Published with the first state: it becomes visible at the same moment."""
        self._pending.append(MESSAGE_ID.value_set(message_id[:250]))

    def state(self, status: str, step: str, customer_id: str | None) -> None:
        values = [(STATUS, status), (STEP, step)]
        if customer_id:
            values.append((CUSTOMER_ID, customer_id))
        updates, self._pending = self._pending, []
        for key, value in values:
            if self._published.get(key.name) != value:
                updates.append(key.value_set(value))
                self._published[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
