"""Agents' accounts: how long a session lasts and how password guessing is slowed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# How long a PostgreSQL process remembers a session: the notices do the forgetting; this only
# bounds what a notice lost with a broken connection could leave behind.
DEFAULT_SESSION_MEMORY_SECONDS = 30.0


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
    # None by default: on PostgreSQL every process hears of a logout or a disabling the moment it
    # commits (`staff/session_cache.py`), so remembering costs nothing in safety; on SQLite a
    # command run in another process would be seen only when the memory runs out (issue 11).
    session_cache_seconds: float | None = Field(
        None,
        ge=0,
        le=60,
        description="How long a process remembers which agent a session token names instead of "
        "looking it up per request. Unset: 30 on PostgreSQL, where every process forgets at "
        "once when a session ends or an agent changes anywhere (LISTEN/NOTIFY), and 0 (look up "
        "every request) on SQLite, where another process (a `helpdesk agent` command) is seen "
        "only this late",
    )

    def session_memory_seconds(self, *, sqlite: bool) -> float:
        if self.session_cache_seconds is not None:
            return self.session_cache_seconds
        return 0.0 if sqlite else DEFAULT_SESSION_MEMORY_SECONDS
