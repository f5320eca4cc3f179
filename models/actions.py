"""What people did: reviews decided, runs replayed or reset, masterdata written; each by the
name of the API key that did it (`GET /v1/audit`)."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

from models.masterdata import utcnow

SUMMARY_CHARS = 1000
ACTOR_CHARS = 200


class Action(SQLModel, table=True):
    """One action of one person: who, what, on what, when, and what changed (redacted)."""

    __tablename__ = "actions"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)
    actor: str = Field(index=True)
    action: str = Field(index=True)  # review.approve, review.reject, replay, reset, masterdata.*
    target: str = Field(index=True)  # a workflow id, or `customers/C001`
    summary: str = ""


class ActionOut(BaseModel):
    at: datetime
    actor: str
    action: str
    target: str
    summary: str
