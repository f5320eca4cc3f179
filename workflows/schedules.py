"""One Temporal Schedule per configured mailbox, created or updated idempotently."""

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.mailbox import PollInput
from settings import MailboxConfig, Settings
from workflows.mailbox_poll import MailboxPollWorkflow

PREFIX = "mailbox-poll-"


def schedule_for(mailbox: MailboxConfig, task_queue: str) -> Schedule:
    """Poll every `poll_seconds`, skipping a tick while the previous poll still runs."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MailboxPollWorkflow.run,
            PollInput(mailbox=mailbox.name),
            id=f"{PREFIX}{mailbox.name}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=mailbox.poll_seconds))]
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=5)
        ),
        state=ScheduleState(note=f"poll {mailbox.user}@{mailbox.host}/{mailbox.folder}"),
    )


async def sync_schedules(client: Client, settings: Settings) -> dict[str, str]:
    """Create, update (keeping a pause) or delete the mailbox schedules; what happened to each."""
    wanted = {f"{PREFIX}{m.name}": schedule_for(m, settings.task_queue) for m in settings.mailboxes}
    done: dict[str, str] = {}
    for schedule_id, schedule in wanted.items():
        try:
            await client.get_schedule_handle(schedule_id).update(_keep_state(schedule))
            done[schedule_id] = "updated"
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            await client.create_schedule(schedule_id, schedule)
            done[schedule_id] = "created"
    async for listed in await client.list_schedules():
        if listed.id.startswith(PREFIX) and listed.id not in wanted:
            await client.get_schedule_handle(listed.id).delete()
            done[listed.id] = "deleted"
    return done


def _keep_state(
    schedule: Schedule,
) -> Callable[[ScheduleUpdateInput], Awaitable[ScheduleUpdate | None]]:
    async def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        paused = current.description.schedule.state.paused
        state = dataclasses.replace(schedule.state, paused=paused)
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=state))

    return update
