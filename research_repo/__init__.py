"""research_repo: a qualitative research repository for federal CX teams."""
from __future__ import annotations

from typing import Any
from collections.abc import Mapping

from flask import Flask

from .schema import PROJECT_ROOT


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: layered config, extensions, blueprints. Touches no database or file."""
    import os

    app = Flask(
        __name__,
        instance_relative_config=True,
        # The instance folder holds the optional instance config file (config.py).
        instance_path=os.environ.get("RESEARCH_REPO_INSTANCE_PATH") or None,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    from . import config

    config.load(app, test_config)

    from . import cli, errors, extensions, security, web_auth
    from . import jobs
    from .services import outbox
    from .services import themes as theme_service
    from .api import bp as api_bp
    from .views import admin, auth, coding, insights, search, sources, studies, themes

    app.request_class = sources.InMemoryRequest
    from .services import accounts

    accounts.configure(password_iterations=app.config["PASSWORD_HASH_ITERATIONS"])

    from .ingest import bounded

    bounded.configure(bounded.Limits(cpu_seconds=int(app.config["PARSE_CPU_SECONDS"]),
                                     memory_mb=int(app.config["PARSE_MEMORY_MB"]),
                                     wall_seconds=float(app.config["PARSE_WALL_SECONDS"])))
    extensions.init_app(app)
    security.init_app(app)
    web_auth.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(studies.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(sources.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(themes.bp)
    app.register_blueprint(coding.bp)
    app.register_blueprint(insights.bp)
    app.register_blueprint(api_bp)
    jobs.register(app, theme_service.JOB_KIND, theme_service.run_job, on_fail=theme_service.run_failed)
    jobs.register(app, outbox.PLACE_JOB, theme_service.place_job)
    return app
