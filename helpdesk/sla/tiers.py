"""The one place the SLA reads a customer's tier, so that the key-account flag (being added by
routing) changes only this function."""

from __future__ import annotations

from helpdesk.customers.models import Customer, CustomerTier

KEY = CustomerTier.KEY.value


def customer_tier(customer: Customer) -> str:
    """'key' for a key account, else the customer's tier ('standard')."""
    # Routing is adding a key-account flag in parallel; until it lands the tier column says it.
    if getattr(customer, "key_account", False):
        return KEY
    return customer.tier.value
