"""``gridwork users list|disable|enable|reset-password|revoke-tokens|unlock``: accounts
without SQL. Each change is audited (from the command line); disabling a user or resetting
their password revokes their tokens and ends their web sessions at once."""

from __future__ import annotations

import sys

import click

from server.cli.friendly import friendly

__all__ = ["commands"]


@click.command("list")
@click.option("--role", default=None, help="Only this role (e.g. grid_worker).")
@click.option("--community", default=None, help="Only this community (its code).")
@click.option("--active/--disabled", "active", default=None,
              help="Only active, or only disabled, accounts.")
@friendly
def list_command(role: str | None, community: str | None, active: bool | None) -> None:
    """List the accounts: role, where they work, active or not, and any login lock."""
    from server.extensions import db
    from server.services.users import list_users

    click.echo(f"{'username':<20} {'role':<14} {'active':<7} {'works in':<24} locked until")
    cursor = None
    while True:
        items, cursor = list_users(db.session, {"role": role, "community": community,
                                                "active": active, "limit": 500,
                                                "cursor": cursor})
        for item in items:
            where = ",".join(item["grids"]) or item["community"] or item["department"] or "-"
            locked = item["locked_until"]
            click.echo(f"{item['username']:<20} {item['role']:<14} "
                       f"{'yes' if item['active'] else 'no':<7} {where:<24} "
                       f"{locked.isoformat(timespec='minutes') if locked else ''}")
        if cursor is None:
            return


@click.command("disable")
@click.argument("username")
@friendly
def disable_command(username: str) -> None:
    """Disable USERNAME: no more logins; their tokens and web sessions end at once."""
    from server.extensions import db
    from server.services.users import disable_user, find_user

    ended = disable_user(db.session, None, find_user(db.session, username))
    click.echo(f"Disabled {username}; ended {ended} tokens and web sessions.")


@click.command("enable")
@click.argument("username")
@friendly
def enable_command(username: str) -> None:
    """Let USERNAME log in again (their old tokens stay revoked)."""
    from server.extensions import db
    from server.services.users import enable_user, find_user

    enable_user(db.session, None, find_user(db.session, username))
    click.echo(f"Enabled {username}.")


@click.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@friendly
def reset_password_command(username: str, password_stdin: bool) -> None:
    """Give USERNAME a new password; their tokens and web sessions end and any lock lifts."""
    from server.extensions import db
    from server.services.users import find_user, reset_password

    user = find_user(db.session, username)  # an unknown name fails before the prompt
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    ended = reset_password(db.session, None, user, password)
    click.echo(f"New password set for {username}; ended {ended} tokens and web sessions.")


@click.command("revoke-tokens")
@click.argument("username")
@click.option("--device", "device_id", default=None,
              help="Only the tokens of this device_id (a lost phone); web sessions stay.")
@friendly
def revoke_tokens_command(username: str, device_id: str | None) -> None:
    """Revoke USERNAME's tokens and end their web sessions (or one device's tokens)."""
    from server.extensions import db
    from server.services.users import find_user, revoke_tokens

    revoked = revoke_tokens(db.session, None, find_user(db.session, username),
                            device_id=device_id)
    what = f"tokens of device {device_id}" if device_id else "tokens and web sessions"
    click.echo(f"Revoked {revoked} {what} of {username}.")


@click.command("unlock")
@click.argument("username")
@friendly
def unlock_command(username: str) -> None:
    """Lift the lock that failed logins put on USERNAME."""
    from server.extensions import db
    from server.services.users import find_user, unlock_user

    cleared = unlock_user(db.session, None, find_user(db.session, username))
    click.echo(f"Unlocked {username}." if cleared else f"{username} had no failed logins.")


# Subcommands of ``gridwork users`` (the group and ``users create`` are in __init__.py).
commands = [list_command, disable_command, enable_command, reset_password_command,
            revoke_tokens_command, unlock_command]
