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
    user: str
    password: SecretStr
    folder: str = "INBOX"
    after_import: Literal["seen", "move"] = "seen"
    move_to: str = "Imported"
    poll_seconds: float = Field(60.0, gt=0, description="Check interval where IDLE is missing")
    idle_seconds: float = Field(300.0, gt=0, description="IDLE is renewed after this long")
    fetch_batch: int = Field(200, ge=1, le=5000)


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = Field(587, ge=1, le=65535)
    tls: TlsMode = "starttls"
    verify_tls: bool = True
    user: str = ""
    password: SecretStr = SecretStr("")
    timeout_seconds: float = Field(30.0, gt=0)


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
