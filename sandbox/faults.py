"""Fault injection shared by the simulators: error rate, latency, forced statuses, bad answers."""

import asyncio
import random
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field


class Faults(BaseModel):
    """What the next requests should suffer; set through `POST /_sandbox/faults`."""

    latency_ms: int = Field(default=0, ge=0)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    error_status: int = Field(default=503, ge=400, le=599)
    fail_next: int = Field(default=0, ge=0)
    fail_status: int = Field(default=503, ge=400, le=599)
    bad_answer_next: int = Field(default=0, ge=0)
    bad_answer: Literal["non_json", "empty"] = "non_json"
    timeout_rate: float = Field(default=0.0, ge=0.0, le=1.0)  # answer after `timeout_ms` instead
    timeout_ms: int = Field(default=120_000, ge=0)
    # the ERP simulator: create a new order for a repeated Idempotency-Key, as many ERPs do
    ignore_idempotency: bool = False
    # the ERP simulator: commit the order, then drop the connection before the answer
    drop_after_commit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    drop_after_commit_next: int = Field(default=0, ge=0)


class FaultState:
    """The current faults and request counters of one simulator."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.requests = 0
        self._random = random.Random(7)

    async def failure(self) -> int | None:
        """Apply latency; the HTTP status to fail this request with, if any."""
        self.requests += 1
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if self.faults.fail_next:
            self.faults.fail_next -= 1
            return self.faults.fail_status
        if self.faults.error_rate and self._random.random() < self.faults.error_rate:
            return self.faults.error_status
        if self.faults.timeout_rate and self._random.random() < self.faults.timeout_rate:
            await asyncio.sleep(self.faults.timeout_ms / 1000)
        return None

    def drop_after_commit(self) -> bool:
        """Whether to lose the answer of a request whose work is done."""
        if self.faults.drop_after_commit_next:
            self.faults.drop_after_commit_next -= 1
            return True
        rate = self.faults.drop_after_commit_rate
        return bool(rate) and self._random.random() < rate

    def take_bad_answer(self) -> str | None:
        if not self.faults.bad_answer_next:
            return None
        self.faults.bad_answer_next -= 1
        return self.faults.bad_answer


def fault_router(state: FaultState) -> APIRouter:
    """`GET|POST /_sandbox/faults`: read or replace the faults (and reset counters)."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    @router.get("/faults")
    def get_faults() -> dict[str, object]:
        """The current faults and the request count."""
        return {"faults": state.faults.model_dump(), "requests": state.requests}

    @router.post("/faults")
    def set_faults(faults: Faults) -> dict[str, object]:
        """Replace the faults and reset the request count."""
        state.faults = faults
        state.requests = 0
        return {"faults": faults.model_dump(), "requests": 0}

    return router
