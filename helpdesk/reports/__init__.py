"""Reports for supervisors: figures per period, team and agent, read with set-based SQL.

A read model outside the core: it reads the core's tables and the knowledge base's decisions,
and nothing in the core imports it (see docs/reports.md)."""
