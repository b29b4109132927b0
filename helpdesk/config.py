"""One Settings object: defaults, then `helpdesk.toml`, then `HELPDESK_*` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from helpdesk.channels.email.settings import EmailSettings
from helpdesk.channels.telegram.settings import TelegramSettings
from helpdesk.channels.webchat.settings import WebchatSettings
from helpdesk.conversation.settings import ConversationSettings
from helpdesk.customers.settings import CustomersSettings
from helpdesk.delivery.settings import OutboxSettings
from helpdesk.events.settings import EventSettings
from helpdesk.intake.settings import IntakeSettings
from helpdesk.kb.settings import KbSettings
from helpdesk.operations.settings import OperationsSettings
from helpdesk.relationships.settings import RelationshipSettings
from helpdesk.routing.settings import RoutingSettings
from helpdesk.sla.settings import SlaSettings
from helpdesk.staff.settings import AccountSettings
from helpdesk.storage.files import private_dir, private_file
from helpdesk.templating import override_errors
from helpdesk.tickets.settings import TicketSettings
from helpdesk.web.protection.settings import ProtectionSettings
from helpdesk.web.workspace.settings import WorkspaceSettings

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it and says what is wrong."""


def _default_data_dir() -> Path:
    return Path(os.environ.get("HELPDESK_DATA_DIR", "helpdesk-data"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HELPDESK_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    public_url: str = ""
    secret_key: str = ""
    log_level: str = "info"
    session_max_age_hours: float = Field(12.0, gt=0)
    demo: bool = Field(
        False,
        description="Serve even though the database holds the demo's accounts and published "
        "password (`helpdesk demo` sets it); never for real customers",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses (or networks) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; from anyone else they are ignored",
    )
    templates_dir: Path | None = Field(
        None, description="Operator's templates; each file replaces the shipped one of its name"
    )
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    webchat: WebchatSettings = Field(default_factory=WebchatSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)
    kb: KbSettings = Field(default_factory=KbSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    protection: ProtectionSettings = Field(default_factory=ProtectionSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    operations: OperationsSettings = Field(default_factory=OperationsSettings)
    sla: SlaSettings = Field(default_factory=SlaSettings)
    customers: CustomersSettings = Field(default_factory=CustomersSettings)
    relationships: RelationshipSettings = Field(default_factory=RelationshipSettings)
    workspace: WorkspaceSettings = Field(default_factory=WorkspaceSettings)
    tickets: TicketSettings = Field(default_factory=TicketSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("HELPDESK_CONFIG", "helpdesk.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("must be one of critical, error, warning, info, debug")
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        if not value:
            return value
        # Accept the URLs people copy from elsewhere and map them to the async drivers we ship.
        for plain, driver in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if value.startswith(plain):
                value = driver + value[len(plain) :]
        scheme = value.split("://", 1)[0]
        if "://" not in value or scheme not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"unsupported database URL scheme {scheme!r}; use sqlite:///path/to/file.db "
                "or postgresql://user:password@host:port/dbname"
            )
        return value

    @model_validator(mode="after")
    def _fill_derived(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'helpdesk.db'}"
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        self.public_url = self.public_url.rstrip("/")
        return self

    @field_validator("templates_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # HELPDESK_TEMPLATES_DIR= would otherwise mean the working directory.
        return None if value == "" else value

    @field_validator("templates_dir")
    @classmethod
    def _templates_usable(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_dir():
            where = "" if value.is_absolute() else f" in {Path.cwd()}"
            raise ValueError(f"{'not a' if value.exists() else 'no such'} folder{where}")
        errors = override_errors(value)
        if errors:
            raise ValueError("a template does not compile: " + "; ".join(errors))
        # Absolute, so the folder stays the same whatever the process's directory later.
        return value.resolve()

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("must be at least 32 characters (or unset: one is generated)")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ensure_secret_key(self) -> str:
        """Use the configured key, or one generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            private_dir(self.data_dir)
            # Created 0600 by the call that creates it: never readable by others, not even
            # for an instant; if another process wins the race, its key is read below.
            private_file(path, secrets.token_urlsafe(48))
        self.secret_key = path.read_text().strip()
        return self.secret_key


_SECRET_SETTINGS = {"secret_key", "database_url", "telegram"}


def _describe(error: ErrorDetails) -> str:
    parts = [str(part) for part in error["loc"]]
    if not parts:
        return error["msg"].removeprefix("Value error, ")
    name = "HELPDESK_" + "__".join(parts).upper() + f" ({'.'.join(parts)} in helpdesk.toml)"
    given = error.get("input")
    # Never echo secrets (the database URL may hold a password) into logs or terminals.
    hidden = isinstance(given, dict) or given is None or parts[0] in _SECRET_SETTINGS
    shown = "" if hidden else f" (got {given!r})"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{name}: {message}{shown}"


# Read by the CLI, not by Settings.
_OTHER_VARIABLES = {"HELPDESK_CONFIG", "HELPDESK_AGENT_PASSWORD"}


def _known_variables() -> set[str]:
    names = set(_OTHER_VARIABLES)
    for name, field in Settings.model_fields.items():
        names.add(f"HELPDESK_{name.upper()}")
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names.update(f"HELPDESK_{name.upper()}__{sub.upper()}" for sub in nested.model_fields)
    return names


def _unknown_variables() -> list[str]:
    """A mistyped variable would otherwise be ignored without a word."""
    known = _known_variables()
    return sorted(
        f"{name}: unknown setting"
        for name in os.environ
        if name.upper().startswith("HELPDESK_") and name.upper() not in known
    )


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise ConfigError naming every wrong setting."""
    unknown = _unknown_variables()
    if unknown:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(unknown))
    named = os.environ.get("HELPDESK_CONFIG")
    if named is not None and not Path(named).is_file():
        # Named on purpose: starting on the defaults instead would hide the mistake.
        where = "" if Path(named).is_absolute() else f" (in {Path.cwd()})"
        problem = "is not a file" if Path(named).exists() else "does not exist"
        raise ConfigError(f"HELPDESK_CONFIG: the configuration file {named}{where} {problem}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    except (OSError, ValueError) as exc:
        # A broken helpdesk.toml surfaces here (tomllib raises a ValueError subclass).
        path = os.environ.get("HELPDESK_CONFIG", "helpdesk.toml")
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
