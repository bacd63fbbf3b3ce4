"""The REST API and the operator console (FastAPI): see :func:`citywatch.api.app.create_app`."""
