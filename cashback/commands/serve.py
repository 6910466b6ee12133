"""`cashback serve`: the portal (HTTP API and the installers' web page) over the configured store."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command()
    def serve(
        host: Annotated[Optional[str], typer.Option(help="Address (default: CASHBACK_PORTAL_HOST).")] = None,
        port: Annotated[Optional[int], typer.Option(help="Port (default: CASHBACK_PORTAL_PORT, 8000).")] = None,
    ) -> None:
        """Serve the portal: JSON API under /v1 (OpenAPI at /openapi.json) and the web page at /login."""
        import uvicorn

        from adapters.http import create_app
        from cashback.cli_support import _settings, engine

        settings = _settings()
        bind_host = host or settings.portal_host
        bind_port = port or settings.portal_port
        with engine() as eng:
            eng.projector().catch_up()
            typer.echo(f"portal on http://{bind_host}:{bind_port}/login  (API: /v1, OpenAPI: /openapi.json)", err=True)
            uvicorn.run(create_app(eng), host=bind_host, port=bind_port, log_level="warning", access_log=False,
                        proxy_headers=True, server_header=False)
