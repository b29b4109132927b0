"""helpdesk: a self-hosted omnichannel customer-service helpdesk."""

__version__ = "0.1.0"
