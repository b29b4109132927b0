"""Routing: who gets a ticket, and the reason written down (issue 14)."""
