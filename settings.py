"""The one settings class of MCS; every MCS_* environment variable is read here."""

from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from storage.blobs import Blobs


class MailboxConfig(BaseModel):
    """One mailbox to poll (an entry of MCS_MAILBOXES): IMAP (the default), Microsoft 365 through
    Microsoft Graph (`provider: graph`), or POP3."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    provider: Literal["imap", "graph", "pop3"] = "imap"
    host: str = ""
    port: int = 0  # 0: the provider's default (IMAP 993 or 143, POP3 995 or 110)
    tls: bool | Literal["starttls"] = True
    user: str
    password: str = Field(default="", repr=False)
    oauth2_token: str = Field(default="", repr=False)
    folder: str = "INBOX"
    poll_seconds: int = Field(default=60, ge=1)
    after: str = Field(
        default="", pattern=r"^(|seen|move:.+|keyword:[A-Za-z0-9$_.-]+|delete|keep)$"
    )  # "": seen (IMAP, Graph) or keep (POP3)
    timeout_seconds: float = Field(default=30, gt=0)
    # Microsoft Graph (an app registration with the Mail.ReadWrite application permission)
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = Field(default="", repr=False)
    graph_url: str = "https://graph.microsoft.com/v1.0"
    token_url: str = "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
    notify: bool = False  # keep a change-notification subscription (needs MCS_PUBLIC_BASE_URL)

    @model_validator(mode="after")
    def _provider(self) -> "MailboxConfig":
        allowed = {"imap": ("seen", "move", "keyword"), "graph": ("seen", "move"),
                   "pop3": ("delete", "keep")}[self.provider]  # fmt: skip
        self.after = self.after or ("keep" if self.provider == "pop3" else "seen")
        if self.after.partition(":")[0] not in allowed:
            raise ValueError(
                f"mailbox {self.name}: after {self.after!r} is not one of {', '.join(allowed)}"
                f" for {self.provider}"
            )
        if self.provider == "graph":
            missing = [
                f for f in ("tenant_id", "client_id", "client_secret") if not getattr(self, f)
            ]
            if missing:
                raise ValueError(f"mailbox {self.name}: Graph needs {', '.join(missing)}")
            if self.folder == "INBOX":
                self.folder = "inbox"  # Graph's well-known name
            self.token_url = self.token_url.replace("{tenant_id}", self.tenant_id)
            return self
        if not self.host:
            raise ValueError(f"mailbox {self.name}: set host")
        if not self.password and not self.oauth2_token:
            raise ValueError(f"mailbox {self.name}: set password or oauth2_token")
        if not self.port:
            secure = self.tls is True
            self.port = {"imap": 993 if secure else 143, "pop3": 995 if secure else 110}[
                self.provider
            ]
        return self

    @property
    def address(self) -> str:
        """Where the mailbox is read, for notes and logs (no secret)."""
        if self.provider == "graph":
            return f"graph {self.user}/{self.folder}"
        return f"{self.provider} {self.user}@{self.host}/{self.folder}"


def _secure(*urls: str) -> bool:
    """Every URL is https, or http on this machine (a simulator)."""
    for url in urls:
        parsed = urlsplit(url)
        if parsed.scheme != "https" and parsed.hostname not in LOOPBACK_HOSTS:
            return False
    return True


SCOPES = (
    "emails:submit", "emails:trusted", "runs:read", "runs:review", "runs:replay", "masterdata:read",
    "masterdata:write", "codec", "admin",
)  # fmt: skip
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")  # http:// stays on this machine
DEV_API_KEY = "mcs-dev-key"
DEV_FILE_SECRET = "mcs-dev-file-secret"
MIN_SECRET_LENGTH = 16


class ApiKey(BaseModel):
    """One entry of MCS_API_KEYS: `name:key:scope+scope`, or a bare key (dev: every scope)."""

    name: str
    key: str = Field(repr=False)
    scopes: frozenset[str]
    bare: bool = False

    @classmethod
    def parse(cls, entry: str) -> "ApiKey":
        if ":" not in entry:
            return cls(name="dev", key=entry, scopes=frozenset(SCOPES), bare=True)
        name, key, scopes = (entry.split(":", 2) + ["", ""])[:3]  # scopes have colons, keys not
        wanted = frozenset(s.strip() for s in scopes.split("+") if s.strip())
        unknown = sorted(wanted - set(SCOPES))
        if not name or not key or not wanted or unknown:
            raise ValueError(
                f"API key {name or '?'!r}: give name:key:scope+scope with scopes from "
                f"{', '.join(SCOPES)}" + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        return cls(name=name, key=key, scopes=wanted)

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@lru_cache(maxsize=32)
def parse_keys(entries: tuple[str, ...]) -> tuple[ApiKey, ...]:
    """The keys of MCS_API_KEYS entries (every request asks: parsed once per list of entries)."""
    return tuple(ApiKey.parse(entry) for entry in entries)


class Settings(BaseSettings):
    """Settings read from MCS_* environment variables (and an optional .env file)."""

    model_config = SettingsConfigDict(env_prefix="MCS_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str = ""
    # PostgreSQL connections each process (the API, every worker) keeps; 10 more at a peak
    database_pool_size: int = Field(default=20, ge=1, le=500)
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    # a Temporal reachable over TLS: the CA of its certificate (PEM; else the system's), a client
    # certificate and key for mTLS, an API key (Temporal Cloud; TLS is then on)
    temporal_tls: bool = False
    temporal_tls_ca: str = ""
    temporal_tls_cert: str = ""
    temporal_tls_key: str = ""
    temporal_api_key: str = Field(default="", repr=False)
    task_queue: str = "sales-email"
    workflow_sandbox: bool = False

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    env: Literal["dev", "production"] | None = None  # None: dev for `mcs dev`, else production
    api_keys: Annotated[list[str], NoDecode] = Field(default=[DEV_API_KEY], repr=False)
    public_base_url: str = ""
    file_url_secret: str = Field(default=DEV_FILE_SECRET, repr=False)
    file_url_ttl: timedelta = timedelta(hours=6)

    dify_base_url: str = ""
    dify_contract_app_key: str = Field(default="app-contract-dev", repr=False)
    dify_order_app_key: str = Field(default="app-order-dev", repr=False)
    dify_user: str = "mcs"
    dify_timeout: timedelta = timedelta(seconds=90)

    erp_base_url: str = ""
    erp_api_key: str = Field(default="erp-dev-key", repr=False)
    erp_timeout: timedelta = timedelta(seconds=30)

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_from: str = "mcs@localhost"
    smtp_timeout: timedelta = timedelta(seconds=15)
    smtp_tls: Literal["starttls", "tls", "off"] = "starttls"  # starttls: required with a login
    ca_file: str = ""  # a private CA (PEM) for IMAP and SMTP, besides the system's
    trusted_authserv_ids: Annotated[list[str], NoDecode] = []  # our mail servers' ids
    require_sender_auth: bool = False  # an alias of MCS_SENDER_AUTH=required
    # required: a mail without a trusted, aligned pass is reviewed; checked: a failed one is;
    # off: none is (must be said: production refuses the others without trusted servers)
    sender_auth: Literal["required", "checked", "off"] | None = None
    attachment_url_hosts: Annotated[list[str], NoDecode] = []  # none: URL attachments refused
    blob_url: str = ""  # s3://bucket/prefix (shared by the API and every worker), or a directory
    blob_retention: timedelta = timedelta(days=90)  # files of finished runs; 0: kept for ever
    reviewer_email: str = "sales-ops@localhost"
    unknown_sender_mail_every: timedelta = timedelta(hours=1)  # per sender address
    # what an approved correction teaches: recorded as active (auto) or proposed product
    # references, or not at all (off)
    learn_from_reviews: Literal["auto", "propose", "off"] = "auto"

    customer_match_threshold: float = 85.0
    contract_keywords: Annotated[list[str], NoDecode] = ["采购合同"]
    review_timeout: timedelta = timedelta(hours=72)
    max_attachment_bytes: int = 25 * 1024 * 1024
    order_total_tolerance: Decimal = Decimal("0.005")  # a share of the total ("0.5%" or 0.005)
    order_currencies: Annotated[list[str], NoDecode] = ["CNY"]
    mailboxes: list[MailboxConfig] = []
    worker_metrics_host: str = "0.0.0.0"  # scraped by Prometheus from another host
    worker_metrics_port: int = 9464  # the Temporal SDK's own worker metrics: the port after
    # `mcs worker` lowers its CPU priority by this much (0 to 19): on a host it shares with the
    # API, intake answers first (at 100 emails/s on 2 cores, p99 44 ms -> 21 ms) and runs, which
    # are durable, wait a moment; a host of its own loses nothing
    worker_nice: int = Field(default=10, ge=0, le=19)
    # the Temporal dev server that `mcs dev` (and the benches) start runs lowered by this much too:
    # it does the runs' work beside the API on one host (at 100 emails/s on 2 cores, intake p99
    # while runs go, median 45 ms over four runs -> 31 ms over seven); a Temporal of its own is not
    # touched
    temporal_nice: int = Field(default=10, ge=0, le=19)
    mailbox_quarantine: str = ""  # folder for messages that cannot be taken ("": mark per `after`)
    payload_key: str = Field(default="", repr=False)  # id:base64key[,id:base64key...]
    codec_origins: Annotated[list[str], NoDecode] = []
    log_format: Literal["json", "text"] | None = None  # None: text for `mcs dev`, else JSON

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of these settings, masked wherever a log line would show it."""
        mailboxes = [
            s for m in self.mailboxes for s in (m.password, m.oauth2_token, m.client_secret)
        ]
        remote = (self.dify_contract_app_key, self.dify_order_app_key, self.erp_api_key)
        named = (
            self.file_url_secret, self.payload_key, self.smtp_password, self.temporal_api_key,
            *remote,
        )  # fmt: skip
        return tuple(s for s in (*(k.key for k in self.keys), *named, *mailboxes) if s)

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        """MCS_API_KEYS, parsed (checked when the settings are read; parsed once per list)."""
        return parse_keys(tuple(self.api_keys))

    @property
    def cli_key(self) -> str:
        """The key the `mcs` command sends: the first of MCS_API_KEYS."""
        return self.keys[0].key if self.api_keys else ""

    @property
    def production(self) -> bool:
        return self.env == "production"

    def production_problems(self) -> list[str]:
        """What makes these settings unsafe in production (each a sentence naming the fix)."""
        problems = []
        if not self.api_keys:
            problems.append("MCS_API_KEYS is empty")
        for key in self.keys:
            if key.bare or key.key == DEV_API_KEY or len(key.key) < MIN_SECRET_LENGTH:
                problems.append(
                    f"MCS_API_KEYS: key {key.name!r} is a dev key (give name:key:scopes with a "
                    f"key of {MIN_SECRET_LENGTH}+ characters)"
                )
        if self.file_url_secret == DEV_FILE_SECRET or len(self.file_url_secret) < 16:
            problems.append(
                f"MCS_FILE_URL_SECRET is the dev secret or shorter than {MIN_SECRET_LENGTH}"
            )
        if not self.payload_key:
            problems.append("MCS_PAYLOAD_KEY is not set (histories would hold mails in clear)")
        for mailbox in self.mailboxes:
            if mailbox.tls is False and (mailbox.password or mailbox.oauth2_token):
                kind = mailbox.provider.upper()
                problems.append(f"mailbox {mailbox.name}: credentials over plain-text {kind}")
            if mailbox.provider == "graph" and not _secure(mailbox.graph_url, mailbox.token_url):
                problems.append(f"mailbox {mailbox.name}: Graph or token URL over plain http")
        if self.smtp_password and self.smtp_tls == "off":
            problems.append("MCS_SMTP_PASSWORD over plain-text SMTP (MCS_SMTP_TLS=off)")
        return problems + self._exposure_problems()

    def _exposure_problems(self) -> list[str]:
        """What would let a sender, a link or a key be faked or read on the way."""
        problems = []
        if self.sender_auth_mode != "off" and not self.trusted_authserv_ids:
            problems.append(
                f"MCS_SENDER_AUTH is {self.sender_auth_mode} but MCS_TRUSTED_AUTHSERV_IDS is empty:"
                " no sender would be checked (name your mail servers' authserv-ids, or set"
                " MCS_SENDER_AUTH=off)"
            )
        if not _secure(self.api_url):
            scheme = urlsplit(self.api_url).scheme
            problems.append(
                f"MCS_PUBLIC_BASE_URL is {scheme}:// (review links, contract links and the"
                " inbox cookie would travel in clear): give its https:// address"
            )
        for name, value, dev in (
            ("MCS_DIFY_CONTRACT_APP_KEY", self.dify_contract_app_key, "app-contract-dev"),
            ("MCS_DIFY_ORDER_APP_KEY", self.dify_order_app_key, "app-order-dev"),
            ("MCS_ERP_API_KEY", self.erp_api_key, "erp-dev-key"),
        ):
            if value == dev:
                problems.append(f"{name} is the simulator's dev key")
        return problems

    @property
    def sender_auth_mode(self) -> str:
        """MCS_SENDER_AUTH, or `required` by MCS_REQUIRE_SENDER_AUTH, else `checked`."""
        return self.sender_auth or ("required" if self.require_sender_auth else "checked")

    @field_validator("payload_key")
    @classmethod
    def _payload_key(cls, value: str) -> str:
        """`id:base64key` entries of 16, 24 or 32 bytes each (as the codec reads them)."""
        from models.codec import parse_keys  # not at the top: settings load before Temporal's

        try:
            parse_keys(value)
        except ValueError as error:  # binascii.Error is one too
            raise ValueError(
                f"each entry is id:base64key, the key 16, 24 or 32 bytes (e.g. k1:$(openssl"
                f" rand -base64 32)): {error}"
            ) from None
        return value

    @property
    def ui_origins(self) -> list[str]:
        """Origins allowed to call the codec routes: MCS_CODEC_ORIGINS, or the dev Web UI."""
        port = self.temporal_ui_port
        return self.codec_origins or [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]

    def mailbox(self, name: str) -> MailboxConfig:
        """The configured mailbox called `name`."""
        for mailbox in self.mailboxes:
            if mailbox.name == name:
                return mailbox
        raise KeyError(f"no mailbox {name!r} in MCS_MAILBOXES")

    @field_validator("order_total_tolerance", mode="before")
    @classmethod
    def _percent(cls, value: object) -> object:
        """Accept "0.5%" as well as 0.005."""
        if isinstance(value, str) and value.strip().endswith("%"):
            return Decimal(value.strip().removesuffix("%")) / 100
        return value

    @field_validator("api_keys", mode="after")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for entry in value:
            ApiKey.parse(entry)
        return value

    @field_validator("order_currencies", mode="after")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [currency.upper() for currency in value]

    @field_validator(
        "api_keys",
        "contract_keywords",
        "codec_origins",
        "order_currencies",
        "trusted_authserv_ids",
        "attachment_url_hosts",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept a comma-separated string as well as a list."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def db_url(self) -> str:
        """The database URL: MCS_DATABASE_URL, or a SQLite file under the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'mcs.db'}"

    @property
    def max_message_bytes(self) -> int:
        """The largest raw message taken from a mailbox: one maximal attachment, base64-encoded."""
        return self.max_attachment_bytes * 4 // 3 + 1024 * 1024

    @property
    def blob_dir(self) -> Path:
        """Where the local blob store keeps attachments (when MCS_BLOB_URL names none)."""
        return self.data_dir / "blobs"

    def blobs(self) -> "Blobs":
        """The blob store of MCS_BLOB_URL (S3 or a directory), else the data dir's."""
        from storage.blobs import open_blobs

        return open_blobs(self.blob_url, self.blob_dir)

    @property
    def api_url(self) -> str:
        """The base URL under which other parts reach our API."""
        return self.public_base_url or f"http://{self.api_host}:{self.api_port}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (also the FastAPI dependency, so tests can override it)."""
    return Settings()
