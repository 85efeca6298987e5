"""``recagent serve [--host --port --workers]``: the API + widget under uvicorn."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from api.logs import uvicorn_log_config
from recagent.commands.errors import CliError
from recagent.settings import load_settings

if TYPE_CHECKING:
    from recagent.settings import Settings

APP_FACTORY = "api.app:create_app"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve the API and the chat widget (uvicorn)")
    add_server_options(p)
    p.set_defaults(func=_serve)


def add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="interface to bind (default: RECAGENT_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: RECAGENT_PORT, 8000)")
    p.add_argument("--workers", type=int,
                   help="worker processes (default: RECAGENT_WORKERS, 1); with more than one, "
                        "use Redis sessions (RECAGENT_REDIS_URL) so workers share them")


def check_exposure(settings: Settings, host: str) -> None:
    """With no identity configured user ids are trusted: loopback only, unless told."""
    from api.identity import is_loopback  # deferred: start-up time (--help)

    if (not settings.identity_configured and not settings.allow_unauthenticated
            and not is_loopback(host)):
        raise CliError(f"refusing to serve on {host} with no identity configured (user ids "
                       "would be trusted as sent): set RECAGENT_API_KEYS and/or "
                       "RECAGENT_WIDGET_SECRET, or RECAGENT_ALLOW_UNAUTHENTICATED=true")


def check_database(settings: Settings) -> None:
    """Stop with one line (no traceback) when the catalog database cannot be reached."""
    from sqlalchemy import text  # deferred: start-up time (--help)
    from sqlalchemy.engine import make_url  # deferred: start-up time (--help)
    from sqlalchemy.exc import SQLAlchemyError  # deferred: start-up time (--help)

    from tools.catalog.db import make_engine  # deferred: start-up time (--help)

    url = make_url(settings.database_url)
    where = f"{url.get_backend_name()} database {url.database!r}"
    try:
        engine = make_engine(settings.database_url)
    except SQLAlchemyError as exc:
        raise CliError(f"cannot open the {where} (RECAGENT_DATABASE_URL): "
                       f"{type(exc).__name__}") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:160]
        raise CliError(f"the {where} is unreachable (RECAGENT_DATABASE_URL): {first}") from None
    finally:
        engine.dispose()


def check_llm(settings: Settings) -> None:
    """Build the configured chat model once: a provider whose package is missing stops
    start-up with one line naming it; say how plans will be read (native or text tools)."""
    from agent.llm import (  # deferred: start-up time (--help)
        LLMConfigError,
        make_chat_model,
        tool_calling_line,
    )

    if settings.llm_provider is None:
        return
    try:
        model = make_chat_model(settings)
    except LLMConfigError as exc:
        raise CliError(str(exc)) from None
    print("recagent: " + tool_calling_line(model), flush=True)


def run_server(args: argparse.Namespace) -> int:
    """Run uvicorn in factory mode: every worker builds its app (and runtime) itself."""
    import uvicorn  # deferred: start-up time (--help)

    settings = load_settings()  # fail fast, before forking workers, on a bad configuration
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    workers = args.workers or settings.workers
    if workers < 1:
        raise CliError("--workers must be at least 1")
    check_exposure(settings, host)
    check_database(settings)
    check_llm(settings)
    if workers > 1 and not settings.redis_url:
        print("recagent: warning: several workers with in-process sessions: a conversation "
              "only continues on the worker that started it; set RECAGENT_REDIS_URL",
              flush=True)
    print(f"recagent: serving on http://{host}:{port} ({workers} worker"
          f"{'s' if workers > 1 else ''})", flush=True)
    uvicorn.run(
        APP_FACTORY, factory=True, host=host, port=port, workers=workers,
        log_config=uvicorn_log_config(settings.log_level), access_log=False,
        proxy_headers=False, timeout_graceful_shutdown=10,
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    return run_server(args)
