"""Escalation notices to staff by email, through the same SMTP server as replies."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email.settings import EmailSettings
from helpdesk.channels.email.smtp_pool import connection_options
from helpdesk.staff.models import Agent


class EmailStaffNotifier:
    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        assert settings.smtp is not None
        self._settings = settings
        self._smtp = settings.smtp

    async def notify(self, session: AsyncSession, agent: Agent, subject: str, text: str) -> None:
        del session  # the agent's address is all it needs
        await self.send(agent.email, agent.name, subject, text)

    async def send(self, email: str, name: str, subject: str, text: str) -> None:
        """One plain-text machine mail (also a chat customer's email code)."""
        mail = EmailMessage()
        mail["From"] = Address(self._settings.from_name, addr_spec=self._settings.from_address)
        mail["To"] = Address(name, addr_spec=email)
        mail["Subject"] = subject
        # Staff notices are machine mail: no auto-replies back to the helpdesk, please.
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(text)
        await aiosmtplib.send(mail, **connection_options(self._smtp))
