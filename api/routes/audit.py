"""What people did (`GET /v1/audit`): reviews, replays, resets and masterdata writes."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from api.deps import SessionDep, allow
from models.actions import Action, ActionOut
from models.masterdata import aware

router = APIRouter(prefix="/v1", tags=["audit"], dependencies=[Depends(allow("admin"))])
Text = Annotated[str | None, Query(max_length=300)]


@router.get("/audit", response_model=list[ActionOut])
def list_actions(
    db: SessionDep,
    actor: Text = None,
    action: Text = None,
    target: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Action]:
    """Actions newest first; `action` matches a prefix (`masterdata` finds every write)."""
    query = select(Action).order_by(col(Action.at).desc(), col(Action.id).desc()).limit(limit)
    if actor:
        query = query.where(Action.actor == actor)
    if action:
        query = query.where(col(Action.action).startswith(action, autoescape=True))
    if target:
        query = query.where(Action.target == target)
    if since:
        query = query.where(Action.at >= aware(since))
    if until:
        query = query.where(Action.at < aware(until))
    return list(db.exec(query).all())
