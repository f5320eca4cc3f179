"""What people did: reviews decided, runs replayed or reset, masterdata written; each by the
name of the API key that did it (`GET /v1/audit`)."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import DateTime
from sqlmodel import Field, Session, SQLModel

from models.masterdata import utcnow
from telemetry.redact import redact

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


def action_row(actor: str, action: str, target: str, summary: str) -> Action:
    """An action row, its summary redacted and cut (and a typed name cut)."""
    return Action(
        actor=actor[:ACTOR_CHARS], action=action, target=target,
        summary=redact(summary)[:SUMMARY_CHARS],
    )  # fmt: skip


def record(session: Session, actor: str, action: str, target: str, summary: str) -> None:
    """Write one action row now (its own commit)."""
    session.add(action_row(actor, action, target, summary))
    session.commit()
