"""Whether the sender of a mail is who the From: says, as our own mail servers judged it: their
`Authentication-Results` headers (RFC 8601, parsed by `authres`), and no one else's.

Only headers whose authserv-id is in MCS_TRUSTED_AUTHSERV_IDS count, and of those only the first
(topmost: the last one added, by our own server) per id. A sender can write any header; our
border server removes headers that claim its id (RFC 8601 section 5), so a forged one is below.
"""

from collections.abc import Iterable
from typing import Literal

import authres

Verdict = Literal["pass", "fail", "none"]
FAILED = {"fail", "softfail", "permerror"}
MAX_HEADERS = 20  # the mail's Authentication-Results headers looked at (and kept)
MAX_HEADER_CHARS = 2000


def verdict(headers: Iterable[str], trusted: Iterable[str]) -> Verdict:
    """`fail` when DMARC failed, or, with no DMARC result, both SPF and DKIM failed; `pass`
    when DMARC, SPF or DKIM passed; `none` when no trusted server said either."""
    ids = {i.strip().lower() for i in trusted if i.strip()}
    results: dict[str, set[str]] = {}
    seen: set[str] = set()
    for value in list(headers)[:MAX_HEADERS]:
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(value[:MAX_HEADER_CHARS])
        except authres.AuthResError:
            continue
        server = str(parsed.authserv_id or "").lower()
        if server not in ids or server in seen:
            continue
        seen.add(server)
        for result in parsed.results:
            results.setdefault(str(result.method).lower(), set()).add(str(result.result).lower())
    dmarc, spf, dkim = (results.get(m, set()) for m in ("dmarc", "spf", "dkim"))
    if dmarc:
        return "pass" if "pass" in dmarc else "fail" if dmarc & FAILED else "none"
    if spf & FAILED and dkim & FAILED and "pass" not in spf | dkim:
        return "fail"
    return "pass" if "pass" in spf | dkim else "none"


def authenticated(verdict: Verdict, required: bool) -> bool | None:
    """False when the sender must be reviewed: a failure, or (`required`) no pass at all."""
    if verdict == "fail" or (required and verdict != "pass"):
        return False
    return True if verdict == "pass" else None
