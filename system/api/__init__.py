"""The REST API (FastAPI): submit, inspect and operate the queue over HTTP."""
