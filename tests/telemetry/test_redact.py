"""Personal data and secrets never reach a log line or an audit row."""

import logging

import pytest

from telemetry.redact import RedactingFilter, redact


def test_addresses_phones_keys_and_signatures_are_masked() -> None:
    line = (
        "sent to buyer@huadong.example and +86 138-0013-8000, fetched "
        "http://api/files/x.pdf?expires=1&signature=abcdef0123 with Bearer app-secret-1 "
        'and {"X-API-Key": "k-123"} and our-key-42'
    )
    cleaned = redact(line, ("our-key-42",))
    for leaked in ("buyer@", "138-0013", "abcdef0123", "app-secret-1", "k-123", "our-key-42"):
        assert leaked not in cleaned, leaked
    assert "b***@huadong.example" in cleaned and "signature=***" in cleaned
    assert redact("order SO-000123 for 2 pcs at 99.50 on 2026-11-20") == (
        "order SO-000123 for 2 pcs at 99.50 on 2026-11-20"
    )  # business figures stay readable


def test_the_filter_redacts_records_with_their_arguments(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("mcs.test.redact")
    caplog.handler.addFilter(RedactingFilter(("s3cr3t",)))
    with caplog.at_level(logging.INFO):
        log.info("mail from %s with key %s", "lisa@bright.example", "s3cr3t")
    [record] = [r for r in caplog.records if r.name == "mcs.test.redact"]
    assert record.getMessage() == "mail from l***@bright.example with key ***"


def test_the_input_values_pydantic_echoes_are_masked() -> None:
    from pydantic import BaseModel, ValidationError

    class Line(BaseModel):
        quantity: int

    try:
        Line.model_validate({"quantity": "Huadong secret price list"})
    except ValidationError as error:
        cleaned = redact(f"contract answer invalid: {error}")
    assert "Huadong" not in cleaned and "input_value=***, input_type=str" in cleaned
