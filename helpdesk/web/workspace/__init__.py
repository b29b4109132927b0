"""The agents' workspace: server-rendered pages (sign-in, the queue, the ticket) over the same
reads, actions and visibility rules as the JSON API."""
