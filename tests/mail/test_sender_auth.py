"""Sender authentication from our own servers' Authentication-Results headers."""

import pytest

from mail.sender_auth import authenticated, verdict

OURS = ["mx.mcs.example"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["mx.mcs.example; dmarc=fail (p=reject) header.from=huadong.example"], "fail"),
        (["mx.mcs.example; spf=pass smtp.mailfrom=huadong.example; dmarc=fail"], "fail"),
        (
            ["mx.mcs.example; spf=fail smtp.mailfrom=x.example; dkim=fail header.d=x.example"],
            "fail",
        ),
        (["mx.mcs.example; spf=softfail smtp.mailfrom=x.example; dkim=permerror"], "fail"),
        (
            ["mx.mcs.example; spf=fail smtp.mailfrom=x.example; dkim=pass header.d=x.example"],
            "pass",
        ),
        (["mx.mcs.example; dmarc=pass header.from=huadong.example"], "pass"),
        (["mx.mcs.example; spf=fail smtp.mailfrom=x.example"], "none"),  # DKIM may still pass
        (["mx.mcs.example; none"], "none"),
        ([], "none"),
        # another server's verdict does not count, whatever it says
        (["evil.example; dmarc=pass header.from=huadong.example"], "none"),
        # only the topmost header of our id counts: one written by the sender sits below it
        (["mx.mcs.example; dmarc=fail", "mx.mcs.example; dmarc=pass"], "fail"),
        (["MX.MCS.EXAMPLE; dmarc=fail"], "fail"),  # ids are case-insensitive
        (["garbage ;;; ==", "mx.mcs.example; dkim=pass header.d=huadong.example"], "pass"),
    ],
)
def test_the_verdict_of_our_servers(headers: list[str], expected: str) -> None:
    assert verdict(headers, OURS) == expected


def test_no_trusted_server_means_no_verdict() -> None:
    assert verdict(["mx.mcs.example; dmarc=fail"], []) == "none"


def test_a_required_authentication_reviews_everything_but_a_pass() -> None:
    assert authenticated("pass", required=True) is True
    assert authenticated("none", required=True) is False
    assert authenticated("none", required=False) is None
    assert authenticated("fail", required=False) is False
