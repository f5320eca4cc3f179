"""TLS for IMAP and SMTP: certificates and host names verified, against the system's CAs and
MCS_CA_FILE (a private CA); a refused certificate is one clear error, not an SSL traceback."""

import ssl
from collections.abc import Iterator
from contextlib import contextmanager


class TlsRefused(ConnectionError):
    """The server's certificate was not accepted (unknown CA, wrong host name, expired)."""


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A client context that verifies the server's certificate and host name."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@contextmanager
def verified(service: str, host: str, port: int) -> Iterator[None]:
    """Turn a refused certificate into TlsRefused naming the server and the reason."""
    try:
        yield
    except ssl.SSLCertVerificationError as error:
        reason = error.verify_message or str(error)
        raise TlsRefused(
            f"{service} {host}:{port}: the server's TLS certificate is not accepted ({reason}); "
            "set MCS_CA_FILE to the CA that signed it, or use the host name it names"
        ) from error
