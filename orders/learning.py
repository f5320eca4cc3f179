"""What a review teaches MCS, as pure logic shared by the workflow (which learns it) and the
review pages (which say beforehand what will be remembered)."""

from models.orders import FindingCode, OrderPayload, product_key
from models.results import Taught
from models.runs import ReviewDecision, ReviewInfo


def taught(shown: OrderPayload, review: ReviewInfo, decision: ReviewDecision) -> list[Taught]:
    """The codes a correction replaced on lines the guard found unknown: the customer's code
    (what the contract said) and the product the reviewer put in its place."""
    corrected = decision.order_payload
    if corrected is None:
        return []
    unknown = unknown_lines(review)
    found = []
    for number in sorted(unknown):
        if number > min(len(shown.lines), len(corrected.lines)):
            continue
        said = shown.lines[number - 1].product_code.strip()
        ours = corrected.lines[number - 1].product_code.strip()
        if said and ours and product_key(said) != product_key(ours):
            found.append(Taught(said=said, product_code=ours))
    return found


def unknown_lines(review: ReviewInfo) -> set[int]:
    """The numbers (from 1) of the lines whose product code the guard did not know."""
    return {f.line for f in review.findings if f.code == FindingCode.UNKNOWN_PRODUCT and f.line}


def kept(mode: str) -> str:
    """How MCS_LEARN_FROM_REVIEWS keeps a lesson, in words."""
    return "will be remembered as" if mode == "auto" else "will be proposed as"


def remembered(lessons: list[Taught], customer: str, mode: str) -> list[str]:
    """What each lesson will be remembered as, in words (nothing when learning is off)."""
    if mode == "off":
        return []
    return [f"{t.said} {kept(mode)} {t.product_code} for {customer}" for t in lessons]
