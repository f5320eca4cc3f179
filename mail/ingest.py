"""Ingesting a raw message from a mailbox: blobs, a unique record, the run, in that order."""

import hashlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mail.budget import parse_within_budget
from mail.mime import UnreadableMessage
from models.email import EmailEvent, normalise_message_id, workflow_id_for
from models.ingest import IngestedMessage, IngestStatus, MailboxState, StartRefused
from models.masterdata import utcnow
from models.runs import SubmitAnswer
from settings import MailboxConfig, Settings
from storage.blobs import Blobs

Position = tuple[str, str, int, int]  # mailbox, folder, uidvalidity, uid
# Starts the run of an email (or finds it) and answers; blocking, called from the poll's thread.
Starter = Callable[[EmailEvent], SubmitAnswer]


class Ingester:
    """Records each message before its run starts, so neither a crash nor a re-poll repeats it."""

    def __init__(
        self,
        engine: Engine,
        store: Blobs,
        start: Starter,
        settings: Settings,
    ) -> None:
        self._engine = engine
        self._store = store
        self._start = start
        self._settings = settings

    def position(self, config: MailboxConfig, validity: int, resumed: int = 0) -> int:
        """The highest UID already handled; a new UIDVALIDITY starts from 0 (content dedupes)."""
        with Session(self._engine) as session:
            state = session.get(MailboxState, (config.name, config.folder))
            if state is None or state.uidvalidity != validity:
                state = state or MailboxState(mailbox=config.name, folder=config.folder)
                state.uidvalidity, state.last_uid, state.updated_at = validity, 0, utcnow()
                session.add(state)
                try:
                    session.commit()
                except IntegrityError:  # another poller created it first: use theirs
                    session.rollback()
                    return self.position(config, validity, resumed)
            return max(state.last_uid, resumed)

    def advance(self, config: MailboxConfig, validity: int, uid: int) -> None:
        with Session(self._engine) as session:
            state = session.get(MailboxState, (config.name, config.folder))
            if state is not None and state.uidvalidity == validity and state.last_uid < uid:
                state.last_uid, state.updated_at = uid, utcnow()
                session.add(state)
                session.commit()

    def ingest(
        self,
        raw: bytes,
        position: Position,
        received: datetime | None,
        provider: str = "imap",
        item_id: str = "",
    ) -> str:
        """Store, record and start one message: "started", "duplicates" or "rejected"."""
        mailbox, folder, _validity, uid = position
        try:
            parsed = parse_within_budget(raw)
        except Exception as error:  # hostile or broken MIME: this message, never the mailbox
            self.reject_position(position, len(raw), f"unreadable: {_reason(error)}", item_id)
            return "rejected"
        limit = self._settings.max_attachment_bytes
        too_big = [a.filename for a in parsed.event.attachments if a.size > limit]
        if too_big:
            reason = f"attachments over {limit} bytes: {', '.join(too_big)}"
            self.reject_position(position, len(raw), reason, item_id)
            return "rejected"
        for data in [raw, *parsed.payloads]:
            self._store.put(data)
        event = parsed.event.model_copy(
            update={"provider": provider, "account": mailbox, "folder": folder,
                    "uid": item_id or str(uid), "received_at": received or parsed.event.received_at}
        )  # fmt: skip
        workflow_id = workflow_id_for(event.message_id)
        digest = hashlib.sha256(raw).hexdigest()
        message_id = normalise_message_id(event.message_id)
        known = self._record(
            position, digest, message_id, workflow_id, IngestStatus.RECORDED, len(raw), item_id
        )
        try:
            answer = self._start(event)
        except StartRefused as error:
            reason = f"the run was refused: {error}"
            self._set_status(digest, IngestStatus.REJECTED, reason=reason[:500])
            return "rejected"
        self._set_status(digest, IngestStatus.STARTED, only_from=IngestStatus.RECORDED)
        return "duplicates" if known or answer.duplicate else "started"

    def reject_position(
        self, position: Position, size: int, reason: str, item_id: str = ""
    ) -> None:
        """Record a message that will not be processed, with the reason (it is not retried)."""
        key = hashlib.sha256(f"rejected:{position}".encode()).hexdigest()
        self._record(position, key, "", "", IngestStatus.REJECTED, size, item_id, reason)

    def finished(self, position: Position) -> bool:
        """Whether the message at `position` is handled already (a racing poll took it)."""
        mailbox, folder, validity, uid = position
        with Session(self._engine) as session:
            query = select(IngestedMessage.status).where(
                IngestedMessage.mailbox == mailbox,
                IngestedMessage.folder == folder,
                IngestedMessage.uidvalidity == validity,
                IngestedMessage.uid == uid,
            )
            status = session.exec(query).first()
        return status in (IngestStatus.DONE, IngestStatus.REJECTED)

    def handled_items(self, config: MailboxConfig, keys: list[str]) -> dict[str, str]:
        """The status of each of `keys` (provider ids) this mailbox recorded; absent: new."""
        found: dict[str, str] = {}
        with Session(self._engine) as session:
            for start in range(0, len(keys), 500):
                query = select(IngestedMessage.item_id, IngestedMessage.status).where(
                    IngestedMessage.mailbox == config.name,
                    col(IngestedMessage.item_id).in_(keys[start : start + 500]),
                )
                for item_id, status in session.exec(query):
                    if found.get(item_id) != IngestStatus.DONE:
                        found[item_id] = status
        return found

    def cursor(self, config: MailboxConfig) -> str:
        """Where the mailbox's next poll reads on (a Graph delta link; "": from the start)."""
        with Session(self._engine) as session:
            state = session.get(MailboxState, (config.name, config.folder))
            return state.cursor if state is not None else ""

    def keep_cursor(self, config: MailboxConfig, cursor: str) -> None:
        """Keep where the next poll reads on (a racing poll's cursor may be kept instead: both
        listed everything up to theirs)."""
        with Session(self._engine) as session:
            state = session.get(MailboxState, (config.name, config.folder))
            state = state or MailboxState(mailbox=config.name, folder=config.folder)
            state.cursor, state.updated_at = cursor, utcnow()
            session.add(state)
            try:
                session.commit()
            except IntegrityError:  # another poller created the row first: update theirs
                session.rollback()
                self.keep_cursor(config, cursor)

    def done(self, raw: bytes) -> None:
        """The mailbox action is applied: the message is fully handled."""
        self._set_status(hashlib.sha256(raw).hexdigest(), IngestStatus.DONE)

    def _record(
        self, position: Position, digest: str, message_id: str, workflow_id: str,
        status: IngestStatus, size: int, item_id: str = "", reason: str = "",
    ) -> bool:  # fmt: skip
        """Insert the row; True when this content (or position) was recorded before."""
        mailbox, folder, validity, uid = position
        row = IngestedMessage(
            mailbox=mailbox, folder=folder, uidvalidity=validity, uid=uid, item_id=item_id,
            content_sha256=digest, message_id=message_id, workflow_id=workflow_id, status=status,
            reason=reason, size=size,
        )  # fmt: skip
        with Session(self._engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return True
        return False

    def _set_status(
        self, digest: str, status: IngestStatus, only_from: str | None = None, reason: str = ""
    ) -> None:
        with Session(self._engine) as session:
            row = session.exec(
                select(IngestedMessage).where(IngestedMessage.content_sha256 == digest)
            ).first()
            if row is not None and (only_from is None or row.status == only_from):
                row.status, row.updated_at = status, utcnow()
                row.reason = reason or row.reason
                session.add(row)
                session.commit()

    def messages(self, mailbox: str) -> list[IngestedMessage]:
        """Every recorded message of a mailbox (for tests, benchmarks and operators)."""
        with Session(self._engine) as session:
            query = select(IngestedMessage).where(IngestedMessage.mailbox == mailbox)
            return list(session.exec(query.order_by(IngestedMessage.id)))  # type: ignore[arg-type]


def _reason(error: Exception) -> str:
    text = str(error)[:300]
    return text if isinstance(error, UnreadableMessage) else f"{type(error).__name__}: {text}"
