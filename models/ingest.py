"""Mailbox intake bookkeeping: where each mailbox stands, and every message seen."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.masterdata import utcnow


class StartRefused(Exception):
    """Temporal refused to start an email's run for good (its input is invalid or too large):
    retrying cannot help, so the email ends visibly instead of waiting forever."""


class IngestStatus(StrEnum):
    RECORDED = "RECORDED"
    STARTED = "STARTED"
    DONE = "DONE"
    REJECTED = "REJECTED"


class MailboxState(SQLModel, table=True):
    """The UIDVALIDITY of a mailbox folder and the highest UID fully handled in it."""

    __tablename__ = "mailbox_state"

    mailbox: str = Field(primary_key=True)
    folder: str = Field(primary_key=True)
    uidvalidity: int = 0
    last_uid: int = 0
    cursor: str = Field(default="", sa_type=Text)  # a Graph delta link: where the next poll reads
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class IngestedMessage(SQLModel, table=True):
    """One message taken from a mailbox; unique by position and by content."""

    __tablename__ = "ingested_messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", name="uq_ingested_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    folder: str
    uidvalidity: int
    uid: int = Field(sa_type=BigInteger)  # IMAP: the UID; Graph, POP3: a number of item_id
    item_id: str = Field(default="", index=True)  # the provider's id: IMAP UID, Graph id, UIDL
    content_sha256: str = Field(unique=True, index=True)
    message_id: str = Field(default="", index=True)
    workflow_id: str = Field(default="", index=True)
    status: str = Field(default=IngestStatus.RECORDED, index=True)
    reason: str = ""
    size: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class OutboxStatus(StrEnum):
    QUEUED = "QUEUED"
    STARTED = "STARTED"
    FAILED = "FAILED"  # Temporal refused the start for good: `last_error` says why


class OutboxEntry(SQLModel, table=True):
    """An email accepted over HTTP: recorded before the answer, its run started right after.

    `event` holds the by-reference EmailEvent until the run has started, then it is cleared.
    """

    __tablename__ = "intake_outbox"

    workflow_id: str = Field(primary_key=True)
    message_id: str = ""
    task_queue: str = ""  # where the run starts; each API sweeps only its own queue's entries
    status: str = Field(default=OutboxStatus.QUEUED, index=True)
    event: str = ""
    run_id: str = ""
    attempts: int = 0
    last_error: str = ""
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


@dataclass(frozen=True, kw_only=True)
class PollInput:
    """Which configured mailbox one MailboxPollWorkflow polls."""

    mailbox: str


@dataclass(frozen=True, kw_only=True)
class PollResult:
    """What one poll saw and did."""

    mailbox: str
    uidvalidity: int
    seen: int = 0
    started: int = 0
    duplicates: int = 0
    rejected: int = 0
    last_uid: int = 0
