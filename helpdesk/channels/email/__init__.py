"""The email channel: IMAP mailboxes in (one task each), SMTP out through the outbox.

Modules: `parse` (bytes -> ParsedMail), `quoting` (the new part of a reply), `noise` (machines and
bounces), `threads` (Message-IDs, subject tags, external ids), `importer` (one intake transaction
per batch, with the checkpoint), `mailbox` (IMAP IDLE/poll loop), `smtp` (the adapter),
`quarantine` (re-import by an admin), `channel` (all of them wired together), `settings`,
`routes`. Acknowledgements are the core's decision (`helpdesk.conversation.acknowledgements`).

This file imports nothing: the configuration imports `settings`, and that must not pull in IMAP,
SMTP or the importer.
"""
