"""The steps of a sales-email run, named once: the workflow, its retry policies, the replay API,
the search attribute `SalesEmailStep` and the audit rows all read these names.

A step's name is also the name of the activity that runs it, so a reset to a step finds the
activity in the history by this name.
"""

from enum import StrEnum


class Step(StrEnum):
    CHECK_IDEMPOTENCY = "check_idempotency"
    LOAD_MASTERDATA = "load_masterdata"
    MATCH_CONTACT = "match_contact"
    DETECT_CONTRACT_SIGNAL = "detect_contract_signal"
    MATCH_CUSTOMER = "match_customer"
    UPLOAD_PDF = "upload_pdf"
    CALL_DIFY_CONTRACT = "call_dify_contract"
    CALL_DIFY_ORDER_PAYLOAD = "call_dify_order_payload"
    REVIEW_ORDER = "review_order"
    LEARN_FROM_REVIEW = "learn_from_review"
    CALL_ERP_GATEWAY = "call_erp_gateway"
    NOTIFY_SALES = "notify_sales"
    FINALIZE = "finalize"
