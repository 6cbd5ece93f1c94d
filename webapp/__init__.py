"""The gridledger web app: one blueprint per audience plus the JSON API.

``create_app(settings)`` builds the app; the ledger services are attached once (see
:mod:`webapp.services`) and shared by every request. Serve it with ``gridledger serve``
(gunicorn) or, in tests, with Flask's test client.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ledger.settings import Settings

from . import errors, i18n, presentation, security, throttle
from .services import Services


def trusted_proxies() -> int:
    """GRIDLEDGER_TRUSTED_PROXIES: how many reverse proxies stand in front (default 0: none)."""
    text = os.environ.get("GRIDLEDGER_TRUSTED_PROXIES", "0").strip() or "0"
    if not text.isdigit():
        from ledger.errors import ConfigurationError

        raise ConfigurationError(f"GRIDLEDGER_TRUSTED_PROXIES must be a whole number (proxies in front); got {text!r}")
    return int(text)


def create_app(settings: Settings | None = None, config: dict[str, Any] | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=security.secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="gridledger_session",
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        MAX_CONTENT_LENGTH=1 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        PASSWORD_HASHER=None,  # argon2id with the library's defaults; tests pass a cheaper one
        CLOCK=throttle.utcnow,  # sessions and log-in throttles read time here; tests set it
        LOGIN_CLIENT_RULE=throttle.CLIENT_RULE,
        LOGIN_ACCOUNT_RULE=throttle.ACCOUNT_RULE,
        DEVICE_COOKIE_LIFETIME=throttle.DEVICE_LIFETIME,
    )
    if config:
        app.config.update(config)
    proxies = trusted_proxies()
    if proxies:
        # Behind nginx: the client's address (log-in throttles) and scheme (Secure cookies, HSTS)
        # come from the last ``proxies`` X-Forwarded-For / -Proto entries, which they wrote.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.extensions["gridledger"] = Services(settings)
    security.init_app(app)
    i18n.init_app(app)
    presentation.init_app(app)
    errors.init_app(app)

    from .api.routes import bp as api_bp
    from .auth.routes import bp as auth_bp
    from .committee.routes import bp as committee_bp
    from .department.routes import bp as department_bp
    from .metrics.routes import bp as metrics_bp
    from .office.routes import bp as office_bp
    from .resident.routes import bp as resident_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(resident_bp, url_prefix="/resident")
    app.register_blueprint(committee_bp, url_prefix="/committee")
    app.register_blueprint(department_bp, url_prefix="/department")
    app.register_blueprint(office_bp, url_prefix="/office")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(metrics_bp)  # /metrics, for Prometheus: loopback or a bearer token
    security.csrf.exempt(api_bp)  # token-authenticated: no cookies, so no cross-site forgery
    return app
