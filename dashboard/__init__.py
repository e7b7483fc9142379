"""The Agent Dashboard: a web app to find, inspect, edit, run, approve and export agents.

``create_app(store)`` builds the FastAPI app (JSON API under ``/api``, server-rendered pages, its own
static files); ``agentctl dashboard`` serves it.
"""

from dashboard.app import create_app

__all__ = ["create_app"]
