"""The custom search attributes of MCS (all Keyword); the dev server and tests register them."""

from temporalio.common import SearchAttributeKey

MESSAGE_ID = SearchAttributeKey.for_keyword("MessageId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
STATUS = SearchAttributeKey.for_keyword("SalesEmailStatus")
STEP = SearchAttributeKey.for_keyword("SalesEmailStep")

ALL = [MESSAGE_ID, CUSTOMER_ID, STATUS, STEP]
