"""SalesEmailWorkflow: one purchase-contract email, from sender check to ERP order and mail.

Read `run` and `_handle` top to bottom: every step is called inline, and every place where a run
ends early says so there (a `return`, or `raise Ended(...)` with the outcome).
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.dify import DifyActivities
    from activities.erp import ErpActivities
    from activities.files import FileActivities
    from activities.masterdata import MasterdataActivities
    from activities.matching import MatchingActivities
    from activities.orders import OrderActivities
    from activities.runs import RunActivities
    from models import run_contract as contract
    from models.email import EmailEvent
    from models.orders import OrderPayload
    from models.results import (
        ContractInput,
        ContractResult,
        CustomerMatch,
        ErpInput,
        IdempotencyInput,
        LearnInput,
        MasterdataRequest,
        MatchContactInput,
        MatchCustomerInput,
        Taught,
        UploadInput,
    )
    from models.runs import ErrorCode, ReviewDecision, ReviewInfo, RunStatus, RunView
    from orders import learning
    from workflows import patches
    from workflows import sales_email_rules as rules
    from workflows.sales_email_review import Review
    from workflows.sales_email_state import Ended, RunState
    from workflows.sales_email_steps import Steps

STEP_ERRORS = rules.STEP_ERRORS
cause_of = rules.cause_of


@workflow.defn(name=contract.WORKFLOW)
class SalesEmailWorkflow:
    """Turn one purchase-contract email into exactly one ERP sales order."""

    def __init__(self) -> None:
        self._state = RunState()
        self._steps = Steps(self._state)
        self._review = Review(self._state)

    @workflow.run
    async def run(self, event: EmailEvent) -> RunView:
        """Recognise the sender and customer, ask a reviewer when unsure, order, tell, record."""
        self._state.begin(event)
        try:
            await self._handle(event)
        except Ended as ended:
            self._state.record(ended.status, ended.code, ended.message)
        except STEP_ERRORS as error:  # a step with no outcome of its own failed for good
            self._state.record(RunStatus.FAILED, None, cause_of(error))
        await self._tell()
        await self._finish()
        return self._state.view()

    @workflow.query(name=contract.STATUS_QUERY)
    def status(self) -> RunView:
        """The run as it stands: status, step, ids, review candidates."""
        return self._state.view()

    @workflow.update(name=contract.REVIEW_UPDATE)
    def review(self, decision: ReviewDecision) -> ReviewDecision:
        """Decide a pending review (approve, optionally naming the customer or correcting the
        order, or reject)."""
        return self._review.take(decision)

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        self._review.validate(decision)

    @workflow.signal(name=contract.REVIEW_SIGNAL)
    def review_decision(self, decision: ReviewDecision) -> None:
        """The same decision as a signal, for the Web UI and `temporal workflow signal`."""
        self._review.offer(decision)

    async def _handle(self, event: EmailEvent) -> None:
        """The business flow, from the idempotency check to the ERP order."""
        key = IdempotencyInput(key=self._state.idempotency_key)
        earlier = await self._steps.run(RunActivities.check_idempotency, key)
        if earlier.stored is not None:  # this email and PDF made an order already
            self._state.adopt(earlier.stored)
            return
        customer = await self._recognise(event)
        if customer.needs_review:
            customer = await self._ask_reviewer(customer)
        contract_read, file_url = await self._read_contract(customer)
        draft = await self._draft(event, customer, contract_read, file_url)
        order = await self._guard(draft, contract_read, customer)
        await self._create(event, order)

    async def _recognise(self, event: EmailEvent) -> CustomerMatch:
        """Who sent it, is it a contract, and for which customer."""
        state = self._state
        try:
            info = await self._steps.run(MasterdataActivities.load_masterdata, MasterdataRequest())
        except STEP_ERRORS as error:
            raise Ended(RunStatus.FAILED, ErrorCode.MASTERDATA_INVALID, cause_of(error)) from error
        state.version = info.version
        find = MatchContactInput(
            from_email=event.from_email,
            version=info.version,
            auth_results=event.auth_results,
            sender_problem=event.sender_problem,
        )
        state.contact = await self._steps.run(MasterdataActivities.match_contact, find)
        if state.contact.contact_id is None:
            raise Ended(RunStatus.UNKNOWN_CONTACT, ErrorCode.CONTACT_NOT_FOUND, "unknown sender")
        state.contact_id = state.contact.contact_id
        signal = await self._steps.run(
            MatchingActivities.detect_contract_signal, rules.signal_input(event, info.version)
        )
        if not signal.is_contract:
            raise Ended(RunStatus.IGNORED, signal.reason, rules.not_a_contract(signal, event))
        state.contract, state.file_type = signal.contract, signal.file_type
        state.warnings.extend(signal.warnings)
        match = await self._match_customer(None)
        if state.contact.sender_authenticated is False:
            match = rules.unauthenticated(match)
        state.customer_id = match.customer_id
        return match

    async def _match_customer(self, chosen: str | None) -> CustomerMatch:
        """The contract file's customer by fuzzy match, or the one a reviewer chose."""
        state = self._state
        ask = MatchCustomerInput(
            filename=state.contract.filename if state.contract else "",
            contact_customer_id=state.contact.customer_id,
            version=state.version,
            chosen_customer_id=chosen,
        )
        return await self._steps.run(MatchingActivities.match_customer, ask)

    async def _ask_reviewer(self, match: CustomerMatch) -> CustomerMatch:
        """A customer review: approve continues (with the customer chosen); reject or no
        decision in time ends the run (in `_decide`)."""
        timeout = timedelta(seconds=match.review_timeout_seconds)
        deadline = (workflow.now() + timeout).isoformat()
        review = rules.review_info(match, self._state.contact, deadline)
        decision = await self._decide(review, timeout, "manual_review")
        if decision.customer_id and decision.customer_id != match.customer_id:
            match = await self._match_customer(decision.customer_id)
        self._state.customer_id = match.customer_id
        file = self._state.contract
        unmatched = review.reason == ErrorCode.CUSTOMER_MATCH_LOW_SCORE and file is not None
        if unmatched and file and workflow.patched(patches.LEARN_CUSTOMER_ALIAS):
            await self._learn([], decision, alias_from=file.filename)
        return match

    async def _decide(self, review: ReviewInfo, wait: timedelta, mail: str) -> ReviewDecision:
        """Ask the reviewers and wait: an approval is returned; a rejection, or no decision in
        time, ends the run here."""
        state = self._state
        state.review, state.status = review, RunStatus.MANUAL_REVIEW
        state.publish(memo=True)
        self._review.reset()
        await self._tell_reviewers(mail)
        try:  # the wait counts from after the mail
            decision = await self._review.wait(workflow.now() + wait, self._remind)
        except TimeoutError as error:
            raise Ended(RunStatus.REVIEW_EXPIRED, review.reason, "no decision in time") from error
        review.decision = decision
        if decision.decision == "reject":
            raise Ended(RunStatus.REJECTED, review.reason, f"rejected by {decision.reviewer}")
        state.status = RunStatus.RUNNING
        return decision

    async def _remind(self) -> None:
        await self._tell_reviewers("review_reminder")

    async def _tell_reviewers(self, kind: str) -> None:
        await self._steps.notify(kind, [], include_reviewers=True)
        self._state.publish()

    async def _read_contract(self, customer: CustomerMatch) -> tuple[ContractResult, str]:
        """Store the contract file for Dify, and let Dify's contract app read it."""
        state, file = self._state, self._state.contract
        assert file is not None
        state.customer_name = customer.customer_name
        upload = UploadInput(
            sha256=file.sha256, filename=file.filename, content_type=file.content_type
        )
        try:
            uploaded = await self._steps.run(FileActivities.upload_pdf, upload)
        except STEP_ERRORS as error:
            raise Ended(RunStatus.FAILED, ErrorCode.FILE_UPLOAD_FAILED, cause_of(error)) from error
        state.file_url = uploaded.file_url
        read = ContractInput(
            file_url=uploaded.file_url,
            filename=file.filename,
            customer_id=customer.customer_id or "",
            customer_num=customer.customer_num,
            file_type=state.file_type,
        )
        try:
            contract_read = await self._steps.run(DifyActivities.call_dify_contract, read)
        except STEP_ERRORS as error:
            code = ErrorCode.DIFY_CONTRACT_FAILED
            raise Ended(RunStatus.CONTRACT_PARSE_FAILED, code, cause_of(error)) from error
        if not contract_read.ok:
            code = ErrorCode.DIFY_CONTRACT_FAILED
            raise Ended(RunStatus.CONTRACT_PARSE_FAILED, code, contract_read.reason)
        state.warnings.extend(contract_read.warnings)
        meta = contract_read.contract_meta
        state.contract_no = meta.contract_no if meta else None
        return contract_read, uploaded.file_url

    async def _draft(
        self, event: EmailEvent, customer: CustomerMatch, read: ContractResult, file_url: str
    ) -> OrderPayload:
        """Dify's order app drafts the ERP order from the contract read."""
        state = self._state
        ask = rules.payload_input(event, customer, state.contact, read, file_url, state.file_type)
        code = ErrorCode.DIFY_ORDER_PAYLOAD_BLOCKED
        try:
            drafted = await self._steps.run(DifyActivities.call_dify_order_payload, ask)
        except STEP_ERRORS as error:
            raise Ended(RunStatus.ORDER_PAYLOAD_BLOCKED, code, cause_of(error)) from error
        if not drafted.ok or drafted.order_payload is None:
            raise Ended(RunStatus.ORDER_PAYLOAD_BLOCKED, code, drafted.reason)
        return drafted.order_payload

    async def _guard(
        self, draft: OrderPayload, read: ContractResult, customer: CustomerMatch
    ) -> OrderPayload:
        """The order for the run's customer, once the guard finds nothing or a reviewer approves
        (a reviewer's correction is checked again)."""
        state = self._state
        check = rules.order_check(
            draft, read, customer, state.contact, state.workflow_id, state.version
        )
        while True:
            result = await self._steps.run(OrderActivities.review_order, check)
            assert result.payload is not None
            state.order_payload, state.guard = result.payload, result.context
            if result.dropped:
                state.warnings.append(rules.not_sent(result.dropped))
            if not result.findings:
                return result.payload
            wait = timedelta(seconds=result.review_timeout_seconds)
            review = rules.order_review(result.findings, workflow.now() + wait)
            decision = await self._decide(review, wait, "order_review")
            if decision.order_payload is None:
                return result.payload
            await self._learn(learning.taught(result.payload, review, decision), decision)
            check = rules.recheck(check, decision.order_payload)

    async def _learn(
        self, taught: list[Taught], decision: ReviewDecision, alias_from: str = ""
    ) -> None:
        """What a review taught becomes masterdata of the run's customer, as
        MCS_LEARN_FROM_REVIEWS says: a correction's codes its product references, the contract
        file's unmatched customer name its learned alias."""
        state = self._state
        if not (taught or alias_from) or not state.customer_id:
            return
        lesson = LearnInput(
            customer_id=state.customer_id,
            workflow_id=state.workflow_id,
            reviewer=decision.reviewer,
            taught=taught,
            alias_from=alias_from,
        )
        learned = await self._steps.run(MasterdataActivities.learn_from_review, lesson)
        state.learned.extend(learned.learned)

    async def _create(self, event: EmailEvent, order: OrderPayload) -> None:
        """The ERP creates the order, exactly once (the idempotency key goes with it)."""
        state = self._state
        create = ErpInput(
            order_payload=order,
            message_id=event.message_id,
            workflow_id=state.workflow_id,
            idempotency_key=state.idempotency_key,
        )
        try:
            created = await self._steps.run(ErpActivities.call_erp_gateway, create)
        except STEP_ERRORS as error:
            code = ErrorCode.ERP_CREATE_FAILED
            raise Ended(RunStatus.ERP_ORDER_FAILED, code, cause_of(error)) from error
        state.sales_order_no, state.order_url = created.sales_order_no, created.order_url
        state.status = RunStatus.SUCCESS

    async def _tell(self) -> None:
        """Tell the salesperson the outcome (nothing for duplicates and mails that are no
        contract; a contract MCS cannot read is told)."""
        state = self._state
        kind = rules.outcome_mail(state)
        if state.duplicate or not kind:
            return
        # only addresses from masterdata or settings: never one the incoming mail names
        to = [state.contact.sales_email] if state.contact.sales_email else []
        await self._steps.notify(kind, to, include_reviewers=kind != "success" or not to)

    async def _finish(self) -> None:
        """Record the outcome (retried until the database answers), after every handler ended."""
        self._state.finished_at = workflow.now()
        self._state.publish()
        finalize = rules.finalize_input(self._state, self._review.signalled)
        await self._steps.run(RunActivities.finalize, finalize)
        await workflow.wait_condition(workflow.all_handlers_finished)
