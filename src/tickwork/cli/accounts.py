"""Users, API tokens and the audit log: ``tickwork users``, ``tickwork tokens``,
``tickwork audit``. Changes are audited as ``cli:<OS user>``."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, WideOpt, app, command_group
from tickwork.cli.render import Column
from tickwork.cli.running import cli_actor, fail, guard, with_service
from tickwork.domain.access import ApiToken, AuditQuery, Role, User, parse_role
from tickwork.domain.access import parse_scopes as parse_scope_list
from tickwork.domain.durations import parse_duration

if TYPE_CHECKING:
    from tickwork.service.accounts import Accounts

users_app = command_group("API users and their roles.")
tokens_app = command_group("API tokens of users.")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

T = TypeVar("T")

RoleArg = Annotated[str, typer.Argument(help="admin, operator or read_only.", show_default=False)]


def _accounts_call(
    config: Path | None,
    database_url: str | None,
    use: Callable[[Accounts], Coroutine[Any, Any, T]],
) -> T:
    from tickwork.service.accounts import Accounts  # argon2

    return with_service(config, database_url, lambda s: use(Accounts(s.ctx)))


# --- rendering ---------------------------------------------------------------------------------
def _compact(value: dict[str, Any] | None) -> str:
    return "" if value is None else json.dumps(value, separators=(",", ":"), default=str)


# --- users -------------------------------------------------------------------------------------
def _read_password(password_stdin: bool, no_password: bool) -> str | None:
    if password_stdin and no_password:
        fail("give --password-stdin or --no-password, not both")
    if no_password:
        return None
    if password_stdin:
        return sys.stdin.read().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for a password: give --password-stdin or --no-password")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        fail("the passwords differ")
    return first


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, '_', '-', '.', ':').")],
    role: Annotated[
        str, typer.Option("--role", help="admin, operator or read_only.", show_default=False)
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No password: the user signs in with tokens.")
    ] = False,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API user. Without --password-stdin or --no-password, asks for the password
    twice (hidden) on a terminal; passwords have at least 12 characters."""
    parsed_role = guard(lambda: parse_role(role))
    password = _read_password(password_stdin, no_password)
    user: User = _accounts_call(
        config,
        database_url,
        lambda a: a.create_user(name, parsed_role, password, actor=cli_actor()),
    )
    if as_json:
        render.print_json(render.user_dict(user))
    else:
        typer.echo(f"created user {user.name} ({user.role.value})")


@users_app.command("list")
def users_list(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """List users with their role and whether they are disabled."""
    users: list[User] = _accounts_call(config, database_url, lambda a: a.list_users())
    if as_json:
        render.print_json([render.user_dict(u) for u in users])
        return
    columns = [
        Column("name"),
        Column("role"),
        Column("disabled (UTC)", drop=1),
        Column("created (UTC)", drop=2),
    ]
    rows = [
        [u.name, u.role.value, _when(u.disabled_at), render.short_time(u.created_at)] for u in users
    ]
    render.print_table(columns, rows, wide=wide)


def _when(value: Any) -> str:
    return render.short_time(value) if value is not None else ""


def _update_user(
    name: str,
    role: Role | None,
    disabled: bool | None,
    config: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    user: User = _accounts_call(
        config,
        database_url,
        lambda a: a.update_user(name, role=role, disabled=disabled, actor=cli_actor()),
    )
    if as_json:
        render.print_json(render.user_dict(user))
    else:
        state = "disabled" if user.disabled_at is not None else "enabled"
        typer.echo(f"user {user.name}: {user.role.value}, {state}")


@users_app.command("disable")
def users_disable(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Disable a user: it cannot sign in, and its tokens are revoked for good."""
    _update_user(name, None, True, config, database_url, as_json)


@users_app.command("enable")
def users_enable(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Enable a disabled user again (its old tokens stay revoked)."""
    _update_user(name, None, False, config, database_url, as_json)


@users_app.command("set-role")
def users_set_role(
    name: str,
    role: RoleArg,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a user's role; its tokens keep only the scopes the new role allows."""
    parsed = guard(lambda: parse_role(role))
    _update_user(name, parsed, None, config, database_url, as_json)


# --- tokens ------------------------------------------------------------------------------------
@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="The user the token acts for.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="A scope, repeatable: jobs:read, jobs:trigger, jobs:write, processor:control, "
            "audit:read, admin.",
            show_default=False,
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    expires: Annotated[
        str | None, typer.Option("--expires", help="Expire after e.g. 30d, 12h (default: never).")
    ] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token and print it once: it cannot be shown again."""
    scopes = guard(lambda: parse_scope_list(scope))
    seconds = guard(lambda: parse_duration(expires, field="expires")) if expires else None

    async def create(a: Accounts) -> tuple[ApiToken, str]:
        expires_at = None if seconds is None else a.clock.now() + timedelta(seconds=seconds)
        return await a.create_token(user, name, scopes, expires_at, actor=cli_actor())

    token, secret = _accounts_call(config, database_url, create)
    if as_json:
        render.print_json(render.token_dict(token, secret))
        return
    typer.echo(secret)
    expiry = f"expires {render.iso(token.expires_at)}" if token.expires_at else "never expires"
    typer.echo(
        f"token {token.id} for {token.user_name} ({', '.join(render.token_dict(token)['scopes'])}; "
        f"{expiry}): store it now, it is not shown again",
        err=True,
    )


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """List tokens (never their secrets)."""
    tokens: list[ApiToken] = _accounts_call(config, database_url, lambda a: a.list_tokens(user))
    if as_json:
        render.print_json([render.token_dict(t) for t in tokens])
        return
    columns = [
        Column("id"),
        Column("user"),
        Column("name", drop=2),
        Column("scopes", drop=1, flex=True),
        Column("expires (UTC)", drop=3),
        Column("revoked (UTC)", drop=1),
        Column("last used (UTC)", drop=4),
        Column("created (UTC)", drop=5),
    ]
    rows = [
        [
            str(t.id),
            t.user_name,
            t.name,
            " ".join(sorted(s.value for s in t.scopes)),
            _when(t.expires_at),
            _when(t.revoked_at),
            _when(t.last_used_at),
            render.short_time(t.created_at),
        ]
        for t in tokens
    ]
    render.print_table(columns, rows, wide=wide)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's ID.")],
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token; requests with it are refused from now on."""
    token: ApiToken = _accounts_call(
        config, database_url, lambda a: a.revoke_token(token_id, actor=cli_actor())
    )
    if as_json:
        render.print_json(render.token_dict(token))
    else:
        typer.echo(f"token {token.id} ({token.user_name}, {token.name}): revoked")


# --- audit -------------------------------------------------------------------------------------
@app.command("audit")
def audit_log(
    actor: Annotated[str | None, typer.Option("--actor", help="Who acted.")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="An action (job.trigger) or a family ending in '.' (job.)."),
    ] = None,
    target_type: Annotated[
        str | None,
        typer.Option("--target-type", help="job, queue_job, user, token, processor, config."),
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="A job name, an ID...")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many entries (1-1000).")] = 50,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Who did what, newest first."""
    query = AuditQuery(
        actor=actor, action=action, target_type=target_type, target=target, limit=limit
    )
    entries = with_service(config, database_url, lambda s: s.audit_log(query))
    if as_json:
        render.print_json([render.audit_dict(e) for e in entries])
        return
    columns = [
        Column("id"),
        Column("at (UTC)"),
        Column("action"),
        Column("target", drop=1),
        Column("actor", drop=2),
        Column("change", drop=3, flex=True),
    ]
    rows = [
        [
            str(e.id),
            render.short_time(e.at),
            e.action,
            f"{e.target_type} {e.target}",
            e.actor,
            " -> ".join(x for x in (_compact(e.before), _compact(e.after)) if x),
        ]
        for e in entries
    ]
    render.print_table(columns, rows, wide=wide)
