"""pgq web: the queue in a browser (pgqueuer-dashboard's web extra)."""

from __future__ import annotations

import click

from pgqueuer_cli import envvars
from pgqueuer_cli.settings import Settings


@click.command()
@click.option(
    "--host",
    envvar=envvars.WEB_HOST,
    show_envvar=True,
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface).",
)
@click.option(
    "--port",
    envvar=envvars.WEB_PORT,
    show_envvar=True,
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on.",
)
@click.pass_obj
def web(settings: Settings, host: str, port: int) -> None:
    """Serve the queue's pages in a browser, live, until Ctrl-C.

    Read-only unless PGQUEUER_WEB_USER and PGQUEUER_WEB_PASSWORD (HTTP Basic) or
    PGQUEUER_WEB_TOKEN (bearer) are set: then every page asks for them and actions (requeue,
    cancel, remove a schedule) are allowed. Needs pip install 'pgqueuer-dashboard[web]'.

    \b
    Example:
      pgq web
      pgq web --host 0.0.0.0 --port 9000
    """
    try:
        from pgqueuer_dashboard.web import WebAuth
        from pgqueuer_dashboard.web.serve import serve
    except ImportError as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    if settings.factory:
        raise click.UsageError("pgq web takes --pg-dsn/--schema/--prefix, not --factory")
    try:
        auth = WebAuth.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    shown = f"[{host}]" if ":" in host else host
    mode = (
        "login required, actions allowed"
        if auth.configured
        else "read-only: set PGQUEUER_WEB_USER and PGQUEUER_WEB_PASSWORD to allow actions"
    )
    click.echo(f"pgq web: http://{shown}:{port}/ ({mode})", err=True)
    try:
        serve(host, port, dsn=settings.dsn, names=settings.names)
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: a clean stop
        pass
