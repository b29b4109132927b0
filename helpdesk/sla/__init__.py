"""Service levels: business-hours calendars, policies, durable timers, the scheduler that fires
them, and the escalations they raise. Business time exists only inside this package."""
