"""The contract of a sales-email run: the names and types the worker, the API and the CLI share.

The API and the CLI start, query, update and signal runs by these names, so they never import the
workflow module (which loads every activity and what the activities load). The worker registers
the workflow under the same names; `tests/workflows/test_contract.py` checks that they match.
"""

from temporalio.common import SearchAttributeKey

from models.email import EmailEvent
from models.runs import ReviewDecision, RunView

__all__ = ["EmailEvent", "ReviewDecision", "RunView"]

WORKFLOW = "SalesEmailWorkflow"  # input EmailEvent, result RunView
STATUS_QUERY = "status"  # -> RunView
REVIEW_UPDATE = "review"  # ReviewDecision -> ReviewDecision (validated before it is written)
REVIEW_SIGNAL = "review_decision"  # ReviewDecision: the Web UI's and `temporal workflow signal`'s
MAILBOX_POLL_WORKFLOW = "MailboxPollWorkflow"  # input PollInput, result PollResult
BLOB_RETENTION_WORKFLOW = "BlobRetentionWorkflow"  # input PurgeInput, result PurgeResult

# The custom search attributes (all Keyword): the dev server and the tests register them.
MESSAGE_ID = SearchAttributeKey.for_keyword("MessageId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
STATUS = SearchAttributeKey.for_keyword("SalesEmailStatus")
STEP = SearchAttributeKey.for_keyword("SalesEmailStep")
SEARCH_ATTRIBUTES = [MESSAGE_ID, CUSTOMER_ID, STATUS, STEP]
WAITING_MEMO = "waiting_run"  # the memo of a run waiting for a review: its RunView
# The failure type of a `review` update refused for a corrected order that still has findings (the
# API answers 422); any other refusal means the run does not wait for that decision (409).
DRAFT_HAS_FINDINGS = "DraftHasFindings"
