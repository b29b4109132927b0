"""HTTP: the FastAPI app, the agents' JSON API, login and the pages."""
