"""The email channel's settings: `[email]` in helpdesk.toml, `HELPDESK_EMAIL__*` variables
(docs/email.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

TlsMode = Literal["implicit", "starttls", "none"]


class MailboxSettings(BaseModel):
    """One IMAP mailbox to import from; `name` keys its checkpoint and its messages' ids."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    host: str
    port: int = Field(993, ge=1, le=65535)
    tls: TlsMode = "implicit"
    verify_tls: bool = True
    # Certificates (PEM) to trust besides the system's: a private CA or a self-signed server.
    ca_file: str | None = None
    user: str
    password: SecretStr
    folder: str = "INBOX"
    after_import: Literal["seen", "move"] = "seen"
    move_to: str = "Imported"
    poll_seconds: float = Field(60.0, gt=0, description="Check interval where IDLE is missing")
    idle_seconds: float = Field(300.0, gt=0, description="IDLE is renewed after this long")
    fetch_batch: int = Field(200, ge=1, le=5000)
    # Who the customer is when a mail has a Reply-To: "trusted" believes it only from the
    # addresses in `trusted_forms` (a web form that sends as itself for its users), "always"
    # believes every Reply-To, "never" none.
    reply_to: Literal["never", "trusted", "always"] = "trusted"
    trusted_forms: list[str] = Field(default_factory=list)

    @field_validator("trusted_forms")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        return [address.strip().lower() for address in value]


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = Field(587, ge=1, le=65535)
    tls: TlsMode = "starttls"
    verify_tls: bool = True
    ca_file: str | None = None
    user: str = ""
    password: SecretStr = SecretStr("")
    timeout_seconds: float = Field(30.0, gt=0)
    # Open SMTP sessions kept and used at once: replies go out in parallel up to this many.
    max_connections: int = Field(16, ge=1, le=100)
    # A session is closed and opened again after this many mails (servers limit it too).
    messages_per_connection: int = Field(100, ge=1)
    # An idle session is closed after this long (servers drop idle clients after a few minutes).
    idle_seconds: float = Field(30.0, gt=0)


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mailboxes: list[MailboxSettings] = Field(default_factory=list)
    smtp: SmtpSettings | None = None
    from_address: str = "support@localhost"
    from_name: str = "Support"
    message_id_domain: str = Field("", description="Defaults to the domain of from_address")
    subject_tag: str = Field("[#{number}]", description="Ticket number in subjects")
    max_message_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    auto_ack: bool = True
    auto_ack_per_sender_per_hour: int = Field(3, ge=0)
    # Besides the customer, at most this many people are copied on a reply (a mail Cc'ing
    # thousands must not make us a mass mailer); agents change who, per ticket.
    reply_participants_max: int = Field(5, ge=0, le=50)
    # A mail that fails to be stored is tried this often (waits growing from
    # `store_retry_seconds`), then quarantined with the error; the mail after it goes on.
    store_attempts: int = Field(3, ge=1, le=20)
    store_retry_seconds: float = Field(0.1, gt=0)
    expected_answer: str = "within one business day"
    complaint_keywords: list[str] = Field(
        default_factory=lambda: [
            "complaint",
            "beschwerde",
            "réclamation",
            "reclamación",
            "queja",
            "reclamo",
            "жалоба",
        ],
        description="A subject with one of these words opens a complaint (case ignored)",
    )
    reconnect_min_seconds: float = Field(1.0, gt=0)
    reconnect_max_seconds: float = Field(300.0, gt=0)

    @field_validator("subject_tag")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if value.count("{number}") != 1:
            raise ValueError("must contain {number} once, e.g. [#{number}]")
        return value

    @model_validator(mode="after")
    def _distinct_names(self) -> EmailSettings:
        names = [m.name for m in self.mailboxes]
        if len(names) != len(set(names)):
            raise ValueError("mailbox names must be distinct")
        if not self.message_id_domain:
            self.message_id_domain = self.from_address.rpartition("@")[2] or "localhost"
        return self
