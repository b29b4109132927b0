"""Running the helpdesk for real: backups, metrics, readiness, logs, graceful shutdown, the
settings reference. Outside the core: it reads the composition root's runtime, never the reverse."""
