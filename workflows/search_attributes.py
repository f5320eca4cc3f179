"""The custom search attributes of MCS (all Keyword), and how a run keeps them current.

The dev server and the tests register the keys. Every upsert is a history event and a visibility
write on the server, so a run publishes as few as keep the attributes current.
"""

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

MESSAGE_ID = SearchAttributeKey.for_keyword("MessageId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
STATUS = SearchAttributeKey.for_keyword("SalesEmailStatus")
STEP = SearchAttributeKey.for_keyword("SalesEmailStep")

ALL = [MESSAGE_ID, CUSTOMER_ID, STATUS, STEP]
WAITING = "waiting_run"  # the memo of a run waiting for a review: its state (OrchestratorRunResult)


class Publisher:
    """Upserts a run's search attributes (called from workflow code only).

    `lean`: the customer goes with the status and step, not on its own upsert. `merged`: the
    MessageId goes with the first state upsert of the first workflow task (it becomes visible at
    the same moment), and values already published are not upserted again.
    """

    def __init__(self, lean: bool, merged: bool) -> None:
        self.lean = lean or merged
        self.merged = merged
        self._pending: list[SearchAttributeUpdate[Any]] = []
        self._published: dict[str, str] = {}

    def message_id(self, message_id: str) -> None:
        update = MESSAGE_ID.value_set(message_id[:250])
        if self.merged:
            self._pending.append(update)
        else:
            workflow.upsert_search_attributes([update])

    def state(self, status: str, step: str, customer_id: str | None) -> None:
        values = [(STATUS, status), (STEP, step)]
        if self.lean and customer_id:
            values.append((CUSTOMER_ID, customer_id))
        updates, self._pending = self._pending, []
        for key, value in values:
            if not self.merged or self._published.get(key.name) != value:
                updates.append(key.value_set(value))
                self._published[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)

    def customer(self, customer_id: str | None) -> None:
        """The customer on its own upsert (runs recorded before the lean upserts)."""
        if customer_id and not self.lean:
            workflow.upsert_search_attributes([CUSTOMER_ID.value_set(customer_id)])
