"""`cashback tokens create|revoke|list`: the portal's access tokens (stored hashed)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    tokens_app = typer.Typer(help="Portal access tokens: installer (one company), staff, finance, auditor.",
                             no_args_is_help=True)
    app.add_typer(tokens_app, name="tokens")

    @tokens_app.command("create")
    def create(
        role: Annotated[str, typer.Option(help="installer, staff, finance or auditor.")],
        company: Annotated[Optional[str], typer.Option(help="Installer tokens: the company's customer number.")]
        = None,
        name: Annotated[str, typer.Option(help="Who or what the token is for (shown by `tokens list`).")] = "",
    ) -> None:
        """Create a token and print it once: only its hash is stored."""
        from adapters.http.tokens import Role, TokenError, TokenStore
        from cashback.cli_support import engine, fail
        from domain.normalise import normalise_customer_no

        try:
            wanted = Role(role)
        except ValueError:
            fail(f"--role must be one of {', '.join(r.value for r in Role)}")
        customer_no = normalise_customer_no(company) if company else None
        with engine() as eng:
            if wanted is Role.INSTALLER and customer_no and customer_no not in eng.app.enrolments():
                fail(f"company {customer_no} is not enrolled in campaign {eng.terms.id}")
            try:
                token_id, token = TokenStore(eng.read_db).create(wanted, customer_no, name, now=eng.app.now())
            except TokenError as error:
                fail(str(error))
        typer.echo(f"token id {token_id} ({wanted}{' of ' + customer_no if customer_no else ''}); "
                   "keep the token, it is not shown again:", err=True)
        typer.echo(token)

    @tokens_app.command("revoke")
    def revoke(token_id: Annotated[str, typer.Argument(help="The token's id (from `tokens list`).")]) -> None:
        """Revoke a token: it stops working at once."""
        from adapters.http.tokens import TokenStore
        from cashback.cli_support import engine, fail

        with engine() as eng:
            done = TokenStore(eng.read_db).revoke(token_id, now=eng.app.now())
        if not done:
            fail(f"no active token {token_id}")
        typer.echo(f"token {token_id} revoked")

    @tokens_app.command("list")
    def list_tokens() -> None:
        """Tokens with their role, company and state (never the secret)."""
        from adapters.http.tokens import TokenStore
        from cashback.cli_support import engine

        with engine() as eng:
            rows = TokenStore(eng.read_db).list()
        typer.echo(f"{'id':<13} {'role':<10} {'company':<10} {'created':<26} {'state':<8} name")
        for r in rows:
            state = "revoked" if r.revoked_at else "active"
            company = r.customer_no or "-"
            typer.echo(f"{r.token_id:<13} {r.role:<10} {company:<10} {r.created_at:<26} {state:<8} {r.name}")
