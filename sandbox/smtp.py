"""An SMTP sink (aiosmtpd) that keeps what it receives, in memory and optionally as .eml files."""

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class SinkHandler:
    """Collects every message; `fail` makes it answer 451 (a transient SMTP failure)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.received: list[bytes] = []  # each message as it came
        self._parsed: list[EmailMessage] = []
        self.peers: list[tuple[str, int]] = []  # the client address of each message's connection
        self.fail = False
        self._directory = directory
        if directory:
            directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail:
            return "451 4.3.0 injected failure"
        raw = envelope.original_content or envelope.content
        self.received.append(raw)
        self.peers.append(tuple(session.peer))
        if self._directory:
            (self._directory / f"{len(self.received):06d}.eml").write_bytes(raw)
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received, parsed when first asked for: parsing each as it came cost the
        sink about as much CPU as MCS's notify step spent on sending it, and a benchmark's sink
        (`mcs sandbox smtp`) never reads them."""
        for raw in self.received[len(self._parsed) :]:
            message = message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self._parsed.append(message)
        return self._parsed


def start_sink(
    host: str, port: int, directory: Path | None = None
) -> tuple[Controller, SinkHandler]:
    """Start the sink in its own thread; stop it with `controller.stop()`."""
    handler = SinkHandler(directory)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller, handler
