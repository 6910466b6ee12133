"""The portal: HTTP API (/v1) and the installers' web page. Build it with ``create_app(engine)``."""

from adapters.http.app import create_app

__all__ = ["create_app"]
