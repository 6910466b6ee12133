"""Property-based tests from the OpenAPI document (schemathesis): whatever arrives, never a 5xx.

Runs against the ASGI app with an installer token; examples are bounded so the whole file stays well
under two minutes. A second pass uses a staff token so that the review endpoints are exercised too.
The schema is loaded eagerly (schemathesis' lazy fixture loader does not work with pytest 9), over a
temporary store made when the module is collected and removed at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from adapters.http import create_app
from tests.api.portal_fixtures import auth, make_engine, seed

MAX_EXAMPLES = 40

_DIR = Path(tempfile.mkdtemp(prefix="cashback-schemathesis-"))
_ENGINE = make_engine(_DIR / "data", portal_staleness_seconds=0)
TOKENS = seed(_ENGINE)
APP = create_app(_ENGINE)
atexit.register(shutil.rmtree, _DIR, True)
atexit.register(_ENGINE.close)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
BOUNDED = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))


@schema.parametrize()
@BOUNDED
def test_no_server_error_as_an_installer(case: Any) -> None:
    case.call_and_validate(headers=auth(TOKENS.a), checks=[not_a_server_error])


@schema.include(path_regex="^/v1/(review|devices)").parametrize()
@BOUNDED
def test_no_server_error_as_staff(case: Any) -> None:
    case.call_and_validate(headers=auth(TOKENS.staff), checks=[not_a_server_error])
