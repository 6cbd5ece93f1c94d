"""gunicorn's settings for ``gridledger serve`` (``--config python:webapp.gunicorn_conf``).

Importing the web app's modules here, in gunicorn's master, lets every worker fork with
them loaded instead of importing them again (about 2 s of CPU each, most of a restart's
time to serve). The app itself is not made here (that would be ``--preload``): its
database and node connections are made in each worker, after the fork.
"""

import webapp  # noqa: F401 - imported for its side effect: the modules are loaded before the workers fork
