"""Agents' accounts: how long a session lasts and how password guessing is slowed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AccountSettings(BaseModel):
    """The login throttle, counted in the database so every process shares it."""

    model_config = ConfigDict(extra="forbid")

    login_window_minutes: float = Field(
        15.0, gt=0, description="Failed logins count against the limits below for this long"
    )
    refusal_delay_seconds: float = Field(
        1.0,
        ge=0,
        le=10,
        description="A refused login (too many failures, or too many logins at once) is "
        "answered this late: a client that retries at once is slowed to a few tries a second "
        "per connection instead of costing the server a request each millisecond",
    )
    max_failures_per_account_and_address: int = Field(
        10, ge=1, description="Failures for one account from one address before that pair waits"
    )
    max_failures_per_address: int = Field(
        30,
        ge=1,
        description="Failures from one address, over all accounts, before the address may try "
        "only accounts that logged in from it before (password spraying)",
    )
    max_failures_per_account: int = Field(
        100,
        ge=1,
        description="Failures for one account, over all addresses, before it may be tried only "
        "from addresses it logged in from before (a guessing botnet)",
    )
    known_address_days: float = Field(
        30.0,
        gt=0,
        description="A successful login makes its address a known one for the account this long",
    )
    # 0 by default: a logout or a disabling ends the session at once in every process (issue 11);
    # an operator who wants the speed (bench/ticket_create.py) may trade a second of it.
    session_cache_seconds: float = Field(
        0.0,
        ge=0,
        le=10,
        description="How long a process remembers which agent a session token names instead of "
        "looking it up per request; another process sees a logout or a disabling at most this "
        "late (the process that did it at once). 0 looks up every request",
    )
