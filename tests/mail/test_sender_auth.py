"""Sender authentication from our own servers' Authentication-Results headers, for the From:
domain only, and the sender taken from the From: as an attacker would write it."""

import pytest

from mail.sender_auth import authenticated, organisational, sender_of, verdict

OURS = ["mx.mcs.example", "mx2.mcs.example"]
DOMAIN = "huadong.example"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["mx.mcs.example; dmarc=fail (p=reject) header.from=huadong.example"], "fail"),
        (["mx.mcs.example; dmarc=pass header.from=huadong.example"], "pass"),
        (["mx.mcs.example; dmarc=pass header.from=HUADONG.example."], "pass"),
        # relaxed DKIM alignment: a sub-domain of the From: domain signed it
        (["mx.mcs.example; dkim=pass header.d=mail.huadong.example"], "pass"),
        (["mx.mcs.example; dkim=fail header.d=huadong.example"], "fail"),
        # one aligned signature passes: a second, broken one does not undo it
        (["mx.mcs.example; dkim=fail header.d=huadong.example; dkim=pass header.d=huadong.example"],
         "pass"),
        # DMARC decides when it speaks of the From: domain, whatever DKIM says
        (["mx.mcs.example; dkim=pass header.d=huadong.example; "
          "dmarc=fail header.from=huadong.example"], "fail"),
        (["mx.mcs.example; spf=pass smtp.mailfrom=huadong.example"], "none"),  # SPF alone: no
        (["mx.mcs.example; none"], "none"),
        ([], "none"),
    ],
)  # fmt: skip
def test_the_verdict_of_our_servers_for_the_from_domain(headers: list[str], expected: str) -> None:
    assert verdict(headers, OURS, DOMAIN) == expected


@pytest.mark.parametrize(
    ("attack", "headers"),
    [
        # the attacker's own domain passes DMARC: it says nothing of huadong.example
        ("dmarc for another domain", ["mx.mcs.example; dmarc=pass header.from=evil.example"]),
        ("dkim of another domain", ["mx.mcs.example; spf=pass smtp.mailfrom=evil.example; "
                                    "dkim=pass header.d=evil.example"]),
        ("dkim of a look-alike",
         ["mx.mcs.example; dkim=pass header.d=huadong.example.evil.example"]),
        ("another server's verdict", ["evil.example; dmarc=pass header.from=huadong.example"]),
        # only the topmost header of our id counts: one the sender wrote sits below it
        ("a forged header below ours", ["mx.mcs.example; dmarc=fail header.from=huadong.example",
                                        "mx.mcs.example; dmarc=pass header.from=huadong.example"]),
        # our server's topmost header cannot be read: the next one claiming its id is not taken
        ("an unreadable header of ours",
         ["mx.mcs.example; ==garbage", "mx.mcs.example; dmarc=pass header.from=huadong.example"]),
        # two of our servers disagree: the fail wins
        ("our servers disagree", ["mx.mcs.example; dmarc=pass header.from=huadong.example",
                                  "mx2.mcs.example; dmarc=fail header.from=huadong.example"]),
    ],
)  # fmt: skip
def test_an_attacker_gets_no_pass(attack: str, headers: list[str]) -> None:
    assert verdict(headers, OURS, DOMAIN) != "pass", attack


def test_no_trusted_server_means_no_verdict() -> None:
    assert verdict(["mx.mcs.example; dmarc=fail header.from=huadong.example"], [], DOMAIN) == "none"


@pytest.mark.parametrize(
    ("header", "sender", "problem"),
    [
        ("Li Lei <buyer@huadong.example>", "buyer@huadong.example", ""),
        ("buyer@huadong.example", "buyer@huadong.example", ""),
        ('"buyer@huadong.example" <BUYER@huadong.example>', "buyer@huadong.example", ""),
        # the address a DMARC checker at the MX checked is the one in angle brackets
        ("buyer@huadong.example <attacker@evil.example>", "attacker@evil.example", "malformed"),
        ('"buyer@huadong.example" <attacker@evil.example>', "attacker@evil.example", "display"),
        ('"attacker@evil.example" <buyer@huadong.example>', "buyer@huadong.example", "display"),
        ("=?utf-8?b?YXR0YWNrZXJAZXZpbC5leGFtcGxl?= <buyer@huadong.example>",
         "buyer@huadong.example", "display"),
        ('"buyer@huadong.example" <>', "", "malformed"),
        ("Li <buyer@huadong.example>, x <attacker@evil.example>", "attacker@evil.example",
         "several"),
    ],
)  # fmt: skip
def test_the_sender_is_the_address_in_angle_brackets(
    header: str, sender: str, problem: str
) -> None:
    found, why = sender_of(header)
    assert found == sender
    assert (problem in why) if problem else why == ""


def test_the_organisational_domain_uses_the_public_suffix_list() -> None:
    assert organisational("mail.huadong.example") == "huadong.example"
    assert organisational("x.mail.sina.com.cn") == "sina.com.cn"
    assert organisational("a.b.co.uk") == "b.co.uk"


def test_modes_and_from_problems() -> None:
    assert authenticated("pass", "required") is True
    assert authenticated("none", "required") is False
    assert authenticated("none", "checked") is None
    assert authenticated("fail", "checked") is False
    assert authenticated("fail", "off") is None
    assert authenticated("pass", "checked", "the From: names several addresses") is False
