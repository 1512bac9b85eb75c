"""An app with just the OAuth blueprint (plus a stand-in `/`).

These tests then do not depend on the other blueprints being finished; registration in the real
factory is covered by tests/web.
"""

from __future__ import annotations

import pytest
from flask import Flask

from connector.context import init_services


@pytest.fixture
def app(services) -> Flask:
    from oauth.views import bp

    flask_app = Flask("oauth-tests")
    flask_app.config.update(SECRET_KEY=services.settings.secret_key, TESTING=True)
    init_services(flask_app, services)
    flask_app.register_blueprint(bp)

    @flask_app.get("/")
    def home():  # noqa: ANN202 - stands in for the dashboard
        return "home"

    return flask_app
