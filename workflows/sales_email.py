"""SalesEmailWorkflow: one purchase-contract email, from sender check to ERP order and mail."""

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
    from models.email import EmailAttachment, EmailEvent
    from models.orders import OrderPayload
    from models.results import (
        ContactMatch,
        ContractInput,
        ContractResult,
        ContractSignal,
        CustomerMatch,
        ErpInput,
        ErpResult,
        IdempotencyInput,
        IdempotencyResult,
        MasterdataInfo,
        MatchContactInput,
        MatchCustomerInput,
        OrderCheckResult,
        OrderPayloadResult,
        UploadInput,
        UploadResult,
    )
    from models.runs import (
        ErrorCode,
        OrchestratorRunResult,
        ReviewDecision,
        ReviewInfo,
        RunStatus,
    )
    from models.steps import Step
    from workflows import patches
    from workflows import sales_email_rules as rules
    from workflows import search_attributes as sa
    from workflows.sales_email_review import Review
    from workflows.sales_email_run import RunBook, Steps, Stop


@workflow.defn
class SalesEmailWorkflow:
    """Turn one purchase-contract email into exactly one ERP sales order."""

    def __init__(self) -> None:
        self._book = RunBook()
        self._steps = Steps(self._book, local_notify=True)
        self._review = Review(self._book)
        self._contact = ContactMatch()
        self._version = 0  # the masterdata version the run matches against
        self._contract: EmailAttachment | None = None  # the attachment read as the contract
        self._file_type = "document"  # how Dify reads it: document or image

    @workflow.run
    async def run(self, event: EmailEvent) -> OrchestratorRunResult:
        """Recognise the sender and customer, ask a reviewer when unsure, order, tell, record."""
        self._begin(event)
        try:
            customer = await self._recognise(event)
            if customer.needs_review:
                customer = await self._ask_reviewer(customer)
            await self._order(event, customer)
        except Stop:
            pass
        except rules.STEP_ERRORS as error:
            self._book.record(RunStatus.FAILED, None, rules.cause_of(error))
        await self._tell()
        await self._finish()
        return self._book.state

    @workflow.query
    def status(self) -> OrchestratorRunResult:
        """The run as it stands: status, step, ids, review candidates."""
        return self._book.state

    @workflow.update
    def review(self, decision: ReviewDecision) -> ReviewDecision:
        """Decide a pending customer review (approve, optionally naming the customer, or reject)."""
        return self._review.take(decision)

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        self._review.validate(decision)

    @workflow.signal
    def review_decision(self, decision: ReviewDecision) -> None:
        """The same decision as a signal, for the Web UI and `temporal workflow signal`."""
        self._review.offer(decision)

    def _begin(self, event: EmailEvent) -> None:
        """Choose the behaviour of the run's version, then open its book."""
        local_notify = workflow.patched(patches.LOCAL_NOTIFY)
        merged = local_notify or workflow.patched(patches.MERGED_UPSERTS)
        lean = merged or workflow.patched(patches.LEAN_UPSERTS)
        self._steps = Steps(self._book, local_notify=local_notify)
        self._book.begin(event, sa.Publisher(lean=lean, merged=merged))

    async def _recognise(self, event: EmailEvent) -> CustomerMatch:
        """Who sent it, is it a contract, and for which customer."""
        key = IdempotencyInput(key=self._book.state.idempotency_key)
        stored: IdempotencyResult = await self._steps.run(
            Step.CHECK_IDEMPOTENCY, RunActivities.check_idempotency, key
        )
        if stored.stored is not None:
            self._book.adopt(stored.stored)
        info: MasterdataInfo = await self._steps.run(
            Step.LOAD_MASTERDATA, MasterdataActivities.load_masterdata
        )
        self._version = info.version
        find = MatchContactInput(
            from_email=event.from_email, version=info.version, auth_results=event.auth_results
        )
        self._contact = await self._steps.run(
            Step.MATCH_CONTACT, MasterdataActivities.match_contact, find
        )
        if self._contact.contact_id is None:
            self._book.end(RunStatus.UNKNOWN_CONTACT, ErrorCode.CONTACT_NOT_FOUND, "unknown sender")
        self._book.state.contact_id = self._contact.contact_id
        choose = workflow.patched(patches.CONTRACT_CHOICE)
        signal: ContractSignal = await self._steps.run(
            Step.DETECT_CONTRACT_SIGNAL,
            MatchingActivities.detect_contract_signal,
            rules.signal_input(event, info.version if choose else None),
        )
        if not signal.is_contract:
            self._book.end(RunStatus.IGNORED, signal.reason, rules.not_a_contract(signal, event))
        self._contract = signal.contract or event.pdf
        self._book.facts["filename"] = self._contract.filename if self._contract else ""
        self._book.state.warnings.extend(signal.warnings)
        self._file_type = signal.file_type
        match: CustomerMatch = await self._match_customer(None)
        if self._contact.sender_authenticated is False and workflow.patched(patches.SENDER_AUTH):
            match = rules.unauthenticated(match)
        self._book.set_customer(match.customer_id)
        return match

    async def _match_customer(self, chosen: str | None) -> CustomerMatch:
        """The contract file's customer by fuzzy match, or the one a reviewer chose."""
        ask = MatchCustomerInput(
            filename=self._contract.filename if self._contract else "",
            contact_customer_id=self._contact.customer_id,
            version=self._version,
            chosen_customer_id=chosen,
        )
        match: CustomerMatch = await self._steps.run(
            Step.MATCH_CUSTOMER, MatchingActivities.match_customer, ask
        )
        return match

    async def _ask_reviewer(self, match: CustomerMatch) -> CustomerMatch:
        """A customer review: approve continues (with the customer chosen), reject ends."""
        timeout = timedelta(seconds=match.review_timeout_seconds)
        deadline = (workflow.now() + timeout).isoformat()
        review = rules.review_info(match, self._contact, deadline)
        decision = await self._decide(review, timeout, "manual_review")
        if decision.customer_id and decision.customer_id != match.customer_id:
            match = await self._match_customer(decision.customer_id)
        self._book.set_customer(match.customer_id)
        return match

    async def _decide(self, review: ReviewInfo, wait: timedelta, mail: str) -> ReviewDecision:
        """Ask the reviewers and wait: an approval is returned; a rejection or no decision in
        time ends the run."""
        book = self._book
        book.state.review = review
        book.state.status = RunStatus.MANUAL_REVIEW
        book.publish(memo=workflow.patched(patches.REVIEW_MEMO))
        self._review.reset()
        await self._tell_reviewers(mail)
        try:  # the wait counts from after the mail, as it always has (recorded timers)
            decision = await self._review.wait(workflow.now() + wait, self._remind)
        except TimeoutError:
            book.end(RunStatus.REVIEW_EXPIRED, review.reason, "no review decision in time")
        review.decision = decision
        if decision.decision == "reject":
            book.end(RunStatus.REJECTED, review.reason, f"rejected by {decision.reviewer}")
        book.state.status = RunStatus.RUNNING
        return decision

    async def _remind(self) -> None:
        await self._tell_reviewers("review_reminder")

    async def _tell_reviewers(self, kind: str) -> None:
        await self._steps.notify(kind, [], include_reviewers=True)
        if self._book.sa.lean:
            self._book.publish()

    async def _order(self, event: EmailEvent, customer: CustomerMatch) -> None:
        """Dify reads the contract and drafts the order; the ERP creates it, exactly once."""
        file = self._contract
        book = self._book
        assert file is not None
        book.facts["customer_name"] = customer.customer_name
        upload: UploadResult = await self._steps.run(
            Step.UPLOAD_PDF,
            FileActivities.upload_pdf,
            UploadInput(sha256=file.sha256, filename=file.filename, content_type=file.content_type),
        )
        book.state.file_url = upload.file_url
        contract = await self._read_contract(customer, upload.file_url, file.filename)
        payload: OrderPayloadResult = await self._steps.run(
            Step.CALL_DIFY_ORDER_PAYLOAD,
            DifyActivities.call_dify_order_payload,
            rules.payload_input(
                event, customer, self._contact, contract, upload.file_url, self._file_type
            ),
        )
        if not payload.ok or payload.order_payload is None:
            code = ErrorCode.DIFY_ORDER_PAYLOAD_BLOCKED
            book.end(RunStatus.ORDER_PAYLOAD_BLOCKED, code, payload.reason)
        order = payload.order_payload
        if workflow.patched(patches.ORDER_GUARD):
            order = await self._guard(order, contract, customer)
        create = ErpInput(
            order_payload=order,
            message_id=event.message_id,
            workflow_id=book.state.workflow_id,
            idempotency_key=book.state.idempotency_key,
        )
        erp: ErpResult = await self._steps.run(
            Step.CALL_ERP_GATEWAY, ErpActivities.call_erp_gateway, create
        )
        book.state.sales_order_no, book.state.order_url = erp.sales_order_no, erp.order_url
        book.state.status = RunStatus.SUCCESS

    async def _guard(
        self, draft: OrderPayload, contract: ContractResult, customer: CustomerMatch
    ) -> OrderPayload:
        """The order for the run's customer, once the guard finds nothing or a reviewer approves
        (a reviewer's correction is checked again)."""
        book = self._book
        check = rules.order_check(draft, contract, customer, self._contact, book.state.workflow_id)
        while True:
            result: OrderCheckResult = await self._steps.run(
                Step.REVIEW_ORDER, OrderActivities.review_order, check
            )
            assert result.payload is not None
            book.state.order_payload = result.payload
            book.guard = result.context
            if not result.findings:
                return result.payload
            wait = timedelta(seconds=result.review_timeout_seconds)
            review = rules.order_review(result.findings, workflow.now() + wait)
            decision = await self._decide(review, wait, "order_review")
            if decision.order_payload is None:
                return result.payload
            check = rules.recheck(check, decision.order_payload)

    async def _read_contract(
        self, customer: CustomerMatch, file_url: str, filename: str
    ) -> ContractResult:
        """The contract's header and lines, as Dify's contract app reads them."""
        read = ContractInput(
            file_url=file_url,
            filename=filename,
            customer_id=customer.customer_id or "",
            customer_num=customer.customer_num,
            file_type=self._file_type,
        )
        contract: ContractResult = await self._steps.run(
            Step.CALL_DIFY_CONTRACT, DifyActivities.call_dify_contract, read
        )
        if not contract.ok:
            code = ErrorCode.DIFY_CONTRACT_FAILED
            self._book.end(RunStatus.CONTRACT_PARSE_FAILED, code, contract.reason)
        self._book.state.warnings.extend(contract.warnings)
        meta = contract.contract_meta
        self._book.facts["contract_no"] = meta.contract_no if meta else ""
        self._book.state.contract_no = meta.contract_no if meta else None
        return contract

    async def _tell(self) -> None:
        """Tell the salesperson the outcome (nothing for duplicates and mails that are no
        contract; a contract MCS cannot read is told)."""
        book = self._book
        kind = rules.outcome_mail(book.state)
        if book.duplicate or not kind:
            return
        # only addresses from masterdata or settings: never one the incoming mail names
        to = [self._contact.sales_email] if self._contact.sales_email else []
        await self._steps.notify(kind, to, include_reviewers=kind != "success" or not to)

    async def _finish(self) -> None:
        """Record the outcome (retried until the database answers), after every handler ended."""
        self._book.state.finished_at = workflow.now()
        self._book.publish()
        finalize = rules.finalize_input(self._book.state, self._book.event, self._review.signalled)
        await self._steps.run(Step.FINALIZE, RunActivities.finalize, finalize)
        await workflow.wait_condition(workflow.all_handlers_finished)
