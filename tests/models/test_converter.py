"""The payload converter: pydantic JSON for models and dataclasses, shared type adapters."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from models.codec import PayloadConverter
from models.results import MatchCustomerInput
from models.runs import RunStatus, RunView


def test_models_and_dataclasses_round_trip() -> None:
    result = RunView(
        workflow_id="wf-1", status=RunStatus.SUCCESS, started_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    ask = MatchCustomerInput(filename="合同.pdf", contact_customer_id="C001", version=3)
    [result_payload, ask_payload] = PayloadConverter().to_payloads([result, ask])
    back = PayloadConverter().from_payloads(
        [result_payload, ask_payload], [RunView, MatchCustomerInput]
    )
    assert back == [result, ask]


def test_a_new_converter_builds_no_new_type_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    # the SDK makes a converter per workflow activation: a per-instance cache would start empty
    payload = PayloadConverter().to_payloads(
        [MatchCustomerInput(filename="a.pdf", contact_customer_id="", version=1)]
    )[0]
    PayloadConverter().from_payloads([payload], [MatchCustomerInput])
    built: list[object] = []
    original = TypeAdapter.__init__

    def counting_init(self: TypeAdapter[Any], *args: Any, **kwargs: Any) -> None:
        built.append(args[0] if args else kwargs.get("type"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(TypeAdapter, "__init__", counting_init)
    for _ in range(3):
        [back] = PayloadConverter().from_payloads([payload], [MatchCustomerInput])
        assert back.filename == "a.pdf"
    assert built == []
