"""IMAP and SMTP over TLS verify the server: against Dovecot and aiosmtpd with certificates of a
CA made here, the right CA connects; an unknown CA or a wrong host name is refused, clearly."""

import ssl
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from mail.imap import open_mailbox
from mail.send import Mailer
from mail.tls import TlsRefused
from models.results import NotifyInput
from sandbox.dovecot import Imap, dovecot_server
from sandbox.smtp import SinkHandler
from settings import MailboxConfig, Settings
from tests.helpers import free_port, installed
from tests.pki import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    root.chmod(0o755)  # dovecot reads the certificate after dropping privileges
    return make_pki(root)


@pytest.fixture(scope="module")
def imaps(pki: Pki) -> Iterator[Imap]:
    with installed(), dovecot_server(tls=(pki.cert, pki.key)) as server:
        yield server


def mailbox(imap: Imap, host: str, tls: bool | str) -> MailboxConfig:
    port = imap.tls_port if tls is True else imap.port
    config = {"name": "tls", "host": host, "port": port, "tls": tls}
    return MailboxConfig.model_validate({**config, "user": imap.user, "password": imap.password})


@pytest.mark.parametrize("tls", [True, "starttls"])
def test_imap_with_the_right_ca_and_host_name_logs_in(
    imaps: Imap, pki: Pki, tls: bool | str
) -> None:
    with open_mailbox(mailbox(imaps, "localhost", tls), str(pki.ca)) as box:
        assert box.client.state == "AUTH"  # logged in, over a verified TLS connection


@pytest.mark.parametrize("tls", [True, "starttls"])
def test_imap_refuses_an_unknown_ca_and_a_wrong_host_name(
    imaps: Imap, pki: Pki, tls: bool | str
) -> None:
    with pytest.raises(TlsRefused, match=r"IMAP localhost:\d+: .*not accepted \(unable to get"):
        with open_mailbox(mailbox(imaps, "localhost", tls), str(pki.stranger)):
            pass
    with pytest.raises(TlsRefused, match=r"IMAP 127.0.0.1:\d+: .*not accepted \(.*mismatch"):
        with open_mailbox(mailbox(imaps, "127.0.0.1", tls), str(pki.ca)):
            pass


@pytest.fixture(scope="module")
def smtps(pki: Pki) -> Iterator[tuple[int, SinkHandler]]:
    """An SMTP server offering STARTTLS with the test certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    handler, port = SinkHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context)
    controller.start()
    yield port, handler
    controller.stop()


def notice() -> NotifyInput:
    context = {"error_message": "test", "sender": "a***@mcs.example", "subject": "TLS"}
    return NotifyInput(
        kind="start_refused", to=["ops@mcs.example"], workflow_id="tls-1", context=context
    )


def test_smtp_starttls_with_the_right_ca_sends_and_refuses_otherwise(
    smtps: tuple[int, SinkHandler], pki: Pki
) -> None:
    port, handler = smtps
    good = Settings(smtp_host="localhost", smtp_port=port, ca_file=str(pki.ca))
    Mailer(good).send(notice())
    assert len(handler.messages) == 1
    for host, ca, reason in (
        ("localhost", pki.stranger, "unable to get local issuer"),
        ("127.0.0.1", pki.ca, "mismatch"),
    ):
        bad = Settings(smtp_host=host, smtp_port=port, ca_file=str(ca))
        with pytest.raises(TlsRefused, match=f"SMTP {host}:{port}: .*{reason}"):
            Mailer(bad).send(notice())
    assert len(handler.messages) == 1


def test_smtp_never_sends_a_password_to_a_server_without_starttls() -> None:
    handler, port = SinkHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        login = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_user="u", smtp_password="p")
        with pytest.raises(TlsRefused, match="offers no STARTTLS: the password"):
            Mailer(login).send(notice())
        production = Settings(smtp_host="127.0.0.1", smtp_port=port, env="production")
        with pytest.raises(TlsRefused, match="offers no STARTTLS: review links"):
            Mailer(production).send(notice())  # review links would travel in clear
        explicit = production.model_copy(update={"smtp_tls": "off"})
        Mailer(explicit).send(notice())  # said so: sent
    finally:
        controller.stop()
    assert len(handler.messages) == 1
