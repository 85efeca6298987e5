"""The OpenAPI document is the truth: schemathesis (``--checks all``: no 5xx, only
documented statuses and content types, responses matching their schemas, valid requests
accepted and invalid ones refused, 405 with the right ``Allow``, ...) over the live spec of
a real uvicorn server, every phase (examples, coverage, fuzzing, stateful), with a bounded
example count and a fixed seed: 0 failures.

Twice: with no identity configured, and with API keys and a widget secret (fuzzed as a
key holder). The server gets its own copy of the catalog (fuzzed turns write sessions and
profiles); the admin routes are fuzzed without their key (they must refuse before reading a
body), so no fuzzed import or training runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.api.support import LiveServer

pytestmark = pytest.mark.slow

SEED = 20261202
# per operation and phase: ~20 s (trusted) + ~10 s (keys) on a loaded 2-core machine
MAX_EXAMPLES = {"trusted": 25, "keys": 10}
KEY = "fuzz-key-" + "k" * 24


@pytest.fixture(scope="module", params=["trusted", "keys"])
def fuzzed_server(request: pytest.FixtureRequest, make_settings: Callable[..., Any],
                  ml_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[str, LiveServer]]:
    """``trusted``: no identity configured (user ids as sent); ``keys``: API keys and a
    widget secret, fuzzed as a key holder of a tenant."""
    from api.app import create_app

    copy = tmp_path_factory.mktemp("fuzz") / "catalog.db"
    shutil.copyfile(str(make_url(ml_sqlite_url).database), copy)
    identity = ({} if request.param == "trusted"
                else {"api_keys": f"shop-a:{KEY}", "widget_secret": "w" * 32})
    settings = make_settings(database_url=f"sqlite:///{copy}",
                             admin_api_key="fuzz-admin-key-" + "x" * 20, **identity)
    server = LiveServer(create_app(settings)).start()
    yield request.param, server
    server.stop()


def test_the_live_spec_holds_under_schemathesis(fuzzed_server: tuple[str, LiveServer],
                                                tmp_path: Path) -> None:
    mode, server = fuzzed_server
    auth = [] if mode == "trusted" else ["--header", f"Authorization: Bearer {KEY}"]
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json", *auth,
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES[mode]), "--seed", str(SEED),
        "--workers", "1", "--no-shrink", "--request-timeout", "60",
        # generation-side health checks (hypothesis finding its own data slow to make on a
        # busy machine), not findings about the API
        "--suppress-health-check", "all",
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=280,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "NO_COLOR": "1", "LANG": "C.UTF-8"})
    report = done.stdout[-12000:] + done.stderr[-3000:]
    assert done.returncode == 0, report  # st exits non-zero on any failure or error
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert tested and int(tested.group(1)) >= 15, report  # every route was reached (19)
    cases = re.search(r"\d+ generated[^\n]*", done.stdout)
    print(f"schemathesis ({mode}): {tested.group(1)} operations, "
          f"{cases.group(0) if cases else '?'}")
