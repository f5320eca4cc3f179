"""IMAP and SMTP over TLS verify the server: against Dovecot and aiosmtpd with certificates of a
CA made here, the right CA connects; an unknown CA or a wrong host name is refused, clearly."""

import datetime
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mail.imap import open_mailbox
from mail.send import Mailer
from mail.tls import TlsRefused
from models.results import NotifyInput
from sandbox.dovecot import Imap, dovecot_server
from sandbox.smtp import SinkHandler
from settings import MailboxConfig, Settings
from tests.helpers import free_port, installed


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA that signed the server's certificate
    stranger: Path  # another CA, which signed nothing here
    cert: Path  # the server's certificate, for the name `localhost`
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _ca(root: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        _certificate(name, key, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = root / f"{name}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    root.chmod(0o755)  # dovecot reads the certificate after dropping privileges
    ca, ca_key = _ca(root, "mcs-test-ca")
    stranger, _ = _ca(root, "stranger-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    ca_certificate = x509.load_pem_x509_certificate(ca.read_bytes())
    certificate = (
        _certificate("localhost", key, "mcs-test-ca", ca_key)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_certificate.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert, key_file = root / "server.pem", root / "server.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(ca=ca, stranger=stranger, cert=cert, key=key_file)


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
        with pytest.raises(TlsRefused, match="offers no STARTTLS"):
            Mailer(login).send(notice())
    finally:
        controller.stop()
    assert handler.messages == []
