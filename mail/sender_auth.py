"""Whether the sender of a mail is who the From: says, as our own mail servers judged it for the
From: address's domain: their `Authentication-Results` headers (RFC 8601, parsed by `authres`),
and no one else's.

- The sender is the address in angle brackets (or the From:'s one bare address), never an address
  in a display name. A From: with several addresses, a defect, or a display name holding another
  address than the sender's is a `problem`: the run is reviewed.
- Only headers whose authserv-id is in MCS_TRUSTED_AUTHSERV_IDS count, and of those only the
  topmost (the last added, by our own server) per id: our border server removes headers that
  claim its id (RFC 8601 section 5), so a forged one is below it. One we cannot parse is a fail.
- A server passes the mail by a `dmarc=pass` whose `header.from` is the From: domain, or, with no
  DMARC result for that domain, a `dkim=pass` whose `header.d` is aligned with it (relaxed: the
  same organisational domain). Results for other domains do not count. When two trusted servers
  disagree, the fail wins.
"""

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

import authres
from publicsuffixlist import PublicSuffixList

from mail.policy import POLICY

Verdict = Literal["pass", "fail", "none"]
FAILED = {"fail", "softfail", "permerror"}
MAX_HEADERS = 20  # the mail's Authentication-Results headers looked at (and kept)
MAX_HEADER_CHARS = 2000
ANGLE = re.compile(r"<([^<>]*)>\s*$")
AN_ADDRESS = re.compile(r"[^\s<>\"@,;:]+@[^\s<>\"@,;:]+")
AUTHSERV_ID = re.compile(r"^\s*([^\s;]+)")


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: no network


def organisational(domain: str) -> str:
    """The registrable domain of `domain` (`mail.huadong.example` -> `huadong.example`)."""
    domain = domain.strip().lower().rstrip(".")
    return _suffixes().privatesuffix(domain) or domain


def sender_of(from_header: str) -> tuple[str, str]:
    """The sender's address in a From: header ("" when it has none) and what is wrong with the
    header ("" when nothing is)."""
    text = from_header.strip()
    parsed = POLICY.header_factory("From", text)
    addresses = list(getattr(parsed, "addresses", ()))
    angle = ANGLE.search(text)
    if angle is not None:
        sender = angle.group(1).strip()
    elif len(addresses) == 1 and "@" in addresses[0].addr_spec and not addresses[0].display_name:
        sender = addresses[0].addr_spec
    else:
        sender = ""
    sender = sender.lower() if AN_ADDRESS.fullmatch(sender) else ""
    if len(addresses) > 1:
        return sender, "the From: names several addresses"
    if parsed.defects:
        return sender, f"the From: is malformed ({parsed.defects[0]})"
    named = {a.lower() for a in AN_ADDRESS.findall(str(getattr(addresses[0], "display_name", "")))}
    if addresses and named - {sender}:
        return sender, "the From: display name holds another address than the sender's"
    return sender, ""


def verdict(headers: Iterable[str], trusted: Iterable[str], from_domain: str) -> Verdict:
    """`pass` when a trusted server authenticated the From: domain and none failed it; `fail`
    when one failed it (or wrote a header we cannot read); `none` when none said either."""
    ids = {i.strip().lower() for i in trusted if i.strip()}
    domain = from_domain.strip().lower().rstrip(".")
    verdicts: list[Verdict] = []
    seen: set[str] = set()
    for value in list(headers)[:MAX_HEADERS]:
        found = AUTHSERV_ID.match(value)
        server = found.group(1).lower() if found else ""
        if server not in ids or server in seen:
            continue
        seen.add(server)
        verdicts.append(_server_verdict(value, domain))
    if "fail" in verdicts:
        return "fail"
    return "pass" if "pass" in verdicts else "none"


def _server_verdict(value: str, domain: str) -> Verdict:
    """What one trusted header says of the From: domain."""
    try:
        parsed = authres.AuthenticationResultsHeader.parse_value(value[:MAX_HEADER_CHARS])
    except authres.AuthResError:
        return "fail"  # our own server's header, unreadable: the mail may have been tampered with
    dmarc, dkim = set(), set()
    for result in parsed.results:
        method, outcome = str(result.method).lower(), str(result.result).lower()
        props = {f"{p.type}.{p.name}".lower(): str(p.value).lower() for p in result.properties}
        if method == "dmarc" and props.get("header.from", "").rstrip(".") == domain:
            dmarc.add(outcome)
        elif method == "dkim" and _aligned(props.get("header.d", ""), domain):
            dkim.add(outcome)
    outcomes = dmarc or dkim
    if outcomes & FAILED and (dmarc or "pass" not in outcomes):
        return "fail"
    return "pass" if "pass" in outcomes else "none"


def _aligned(signer: str, domain: str) -> bool:
    signer = signer.strip().lower().rstrip(".")
    return bool(signer and domain) and organisational(signer) == organisational(domain)


def authenticated(verdict: Verdict, mode: str, problem: str = "") -> bool | None:
    """False when the sender must be reviewed: a From: with a `problem`, or by `mode` (the
    setting MCS_SENDER_AUTH): `required`, no pass; `checked`, a fail; `off`, never."""
    if problem:
        return False
    if mode == "off":
        return None
    if verdict == "fail" or (mode == "required" and verdict != "pass"):
        return False
    return True if verdict == "pass" else None
