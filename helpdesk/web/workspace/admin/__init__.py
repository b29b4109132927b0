"""Admin pages of the workspace: agents and teams, routing rules, SLA policies and calendars,
articles, customers' tiers and managers, and the state of every channel. Pages read on the
server; their forms change things through the JSON API's own routes (with the session cookie
and the CSRF header, `data-api` forms in workspace.js), so a page can never do what the API
would refuse."""
