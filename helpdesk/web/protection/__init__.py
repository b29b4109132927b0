"""Protections of the web server against one client taking the service from everyone else:
connection caps and head timeouts (`connections.py`), the open-file limit (`open_files.py`),
security headers (`headers.py`). Their settings are `[protection]` (`settings.py`)."""
