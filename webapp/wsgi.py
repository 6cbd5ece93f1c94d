"""The WSGI entry point for gunicorn: ``gunicorn webapp.wsgi:app`` (see ``gridledger serve``)."""

from . import create_app

app = create_app()
