"""The patches of SalesEmailWorkflow (`workflow.patched` ids): runs recorded before a patch keep
the old behaviour on replay. Each id is named once, here."""

# Patch: search attributes are upserted before remote steps and on status changes only,
# not around every local step (a third fewer history events per run).
LEAN_UPSERTS = "lean-search-attribute-upserts"
# Patch, on top of the lean upserts: the MessageId goes with the first state upsert, unchanged
# values are not upserted again, and notify_sales is not published as a step (two fewer upserts).
MERGED_UPSERTS = "merged-search-attribute-upserts"
# Patch, on top of the merged upserts: mails are sent by a local activity. A mail to the relay is
# short and local; as an activity it cost a quarter of the server's CPU per run (5 fewer events).
LOCAL_NOTIFY = "local-notify"
# Patch: the order guard checks Dify's draft before the ERP sees it; findings go to an order review.
ORDER_GUARD = "order-guard"
# Patch: a sender our mail servers did not authenticate goes to the customer review.
SENDER_AUTH = "sender-auth"
# Patch: the contract is chosen among all attachments (documents and images, not only the first
# PDF); a contract mail with none MCS can read ends IGNORED and the salesperson is told.
CONTRACT_CHOICE = "contract-choice"
# Patch: a reminder to the reviewers at half the review timeout.
REVIEW_REMINDER = "review-reminder"
# Patch: a run waiting for a review keeps its state in its memo, so the API reads a waiting run
# (its detail, review page, inbox line) from describe, with no query a worker must answer.
REVIEW_MEMO = "review-memo"
# Every patch of SalesEmailWorkflow, oldest first (see "Retiring a patch" in the README).
PATCHES = (
    LEAN_UPSERTS, REVIEW_REMINDER, MERGED_UPSERTS, LOCAL_NOTIFY, ORDER_GUARD, CONTRACT_CHOICE,
    SENDER_AUTH, REVIEW_MEMO,
)  # fmt: skip
RETIRED_PATCHES = ()  # deprecated: their markers may still be in recorded histories
