"""Recording what people did (`models.actions.Action`), each summary redacted and cut."""

from sqlmodel import Session

from models.actions import ACTOR_CHARS, SUMMARY_CHARS, Action
from telemetry.redact import redact


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
