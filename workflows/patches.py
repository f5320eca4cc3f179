"""The patches of SalesEmailWorkflow (`workflow.patched` ids): runs recorded before a patch keep
the old behaviour on replay. Each id is named once, here.

Release 0.1 is the baseline: its behaviour is the code as it stands, with no patch. A change to a
running workflow after 0.1 adds its id here (see "Changing the workflow" in the README): it is
deprecated (`workflow.deprecate_patch`) one release after it shipped and removed the release after.
"""

LEARN_CUSTOMER_ALIAS = "learn-customer-alias"  # a customer review's unmatched name is learned

# Every patch of SalesEmailWorkflow since release 0.1, oldest first.
PATCHES: tuple[str, ...] = (LEARN_CUSTOMER_ALIAS,)
RETIRED_PATCHES: tuple[
    str, ...
] = ()  # deprecated: their markers may still be in recorded histories
