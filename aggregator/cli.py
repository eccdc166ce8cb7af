"""The `aggregator` command: serve, migrate, manage principals, verify the audit trail."""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aggregator.concerns.vocab import AgencyType, Role
from aggregator.core.db import Database
from aggregator.core.settings import Settings, get_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    db = Database(settings)
    try:
        return await work(db)
    finally:
        await db.dispose()


def _print_token(kind: str, name: str, token_id: str, token: str) -> None:
    print(f"created {kind} {name!r}")
    print(f"token id: {token_id}   (use it to revoke: aggregator tokens revoke {token_id})")
    print(f"bearer token (shown once, store it securely): {token}")


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.core.migrate import upgrade

    upgrade(settings, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_agencies_add(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.principals.service import PrincipalExistsError, add_agency

    async def work(db: Database) -> int:
        try:
            async with db.session() as session:
                issued = await add_agency(session, args.name, AgencyType(args.type))
        except PrincipalExistsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        _print_token("agency", args.name, issued.token_id, issued.token)
        return 0

    return _run(_with_db(settings, work))


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.principals.passwords import hash_password, read_password
    from aggregator.principals.service import PrincipalExistsError, add_user

    password = read_password(args) if args.password_stdin or args.password else None

    async def work(db: Database) -> int:
        try:
            async with db.session() as session:
                issued = await add_user(
                    session,
                    args.email,
                    Role(args.role),
                    hash_password(password) if password else None,
                )
        except PrincipalExistsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        _print_token(f"user ({args.role})", args.email, issued.token_id, issued.token)
        return 0

    return _run(_with_db(settings, work))


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.principals.service import list_principals

    async def work(db: Database) -> int:
        async with db.session() as session:
            for p in await list_principals(session, args.kind):
                print(f"{p.id}  {p.agency_type or p.role:<22}  {p.name}")
        return 0

    return _run(_with_db(settings, work))


def cmd_tokens_issue(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select
    from sqlmodel import col

    from aggregator.principals.models import Principal
    from aggregator.principals.service import issue_token

    async def work(db: Database) -> int:
        async with db.session() as session:
            principal = (
                await session.scalars(
                    select(Principal).where(
                        (col(Principal.name) == args.principal)
                        | (col(Principal.id) == args.principal)
                    )
                )
            ).first()
            if principal is None:
                print(f"error: no principal {args.principal!r}", file=sys.stderr)
                return 1
            issued = await issue_token(session, principal)
        _print_token(principal.kind, principal.name, issued.token_id, issued.token)
        return 0

    return _run(_with_db(settings, work))


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.principals.service import revoke

    async def work(db: Database) -> int:
        async with db.session() as session:
            if args.token_id:
                count = await revoke(session, token_id=args.token_id)
            else:
                count = await revoke(session, principal=args.principal)
        if count == 0:
            print("error: no live token matched", file=sys.stderr)
            return 1
        print(f"revoked {count} token(s); they stop working immediately")
        return 0

    return _run(_with_db(settings, work))


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.audit.chain import verify_and_seal

    async def work(db: Database) -> int:
        result = await verify_and_seal(db, full=args.full, head=args.head)
        print(result.describe())
        return 0 if result.ok else 2

    return _run(_with_db(settings, work))


def cmd_audit_seal_late(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.audit.chain import LateSealError, seal_late

    async def work(db: Database) -> int:
        try:
            result = await seal_late(db, args.event_ids)
        except LateSealError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(result.describe())
        return 0 if result.ok else 2

    return _run(_with_db(settings, work))


def cmd_audit_anchor(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.audit.chain import current_head, verify_and_seal

    async def work(db: Database) -> int:
        result = await verify_and_seal(db)
        if not result.ok:
            print(f"error: not printing a head to trust: {result.describe()}", file=sys.stderr)
            return 2
        print(await current_head(db))
        return 0

    return _run(_with_db(settings, work))


def cmd_matching_train(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.children.model_store import train

    async def work(db: Database) -> int:
        try:
            version = await train(db, sample=args.sample, note=args.note)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(
            f"match model version {version} stored; running services switch to it within "
            f"{settings.match_model_refresh_seconds:.0f} s"
        )
        return 0

    return _run(_with_db(settings, work))


def cmd_matching_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.children.reindex import reindex

    async def work(db: Database) -> int:
        print(f"rebuilt the keys of {await reindex(db)} records")
        return 0

    return _run(_with_db(settings, work))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.serve import serve

    return serve(settings, host=args.host, port=args.port, demo=args.demo, workers=args.workers)


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    from alerts import run_forever

    if settings.is_sqlite:
        from aggregator.core.migrate import upgrade

        upgrade(settings)
    return _run(run_forever(settings))


def cmd_alerts_run_once(args: argparse.Namespace, settings: Settings) -> int:
    from alerts import AlertJobs, RulesError

    async def work(db: Database) -> int:
        try:
            jobs = AlertJobs(db, settings)
        except RulesError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not await jobs.lease.acquire():
            if not args.force:
                print(
                    "error: another process holds the scheduler lease and is sweeping; "
                    "use --force to sweep now anyway (sweeps are idempotent)",
                    file=sys.stderr,
                )
                return 3
            jobs.use_lease = False
        try:
            result = await jobs.run_once(full=args.full)
        finally:
            await jobs.lease.release()
        s, d = result.sweep, result.delivery
        print(
            f"swept {s.children} children: {s.opened} opened, {s.updated} updated, "
            f"{s.reopened} re-opened; {result.escalated} escalated; "
            f"{d.delivered} delivered, {d.retried} to retry, {d.dead} dead"
        )
        return 0

    return _run(_with_db(settings, work))


def _event_id(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} is not an audit event id")
    return int(text)


def _audit_head(text: str) -> Any:
    from aggregator.audit.anchor import Head

    try:
        return Head.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Safeguarding concern aggregator. Settings come from AGGREGATOR_* variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="seed demo agencies, people and data")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    up = db.add_parser("upgrade", help="apply Alembic migrations")
    up.add_argument("revision", nargs="?", default="heads")
    up.set_defaults(func=cmd_db_upgrade)

    agencies = sub.add_parser("agencies", help="agencies that submit concerns").add_subparsers(
        dest="agencies_cmd", required=True
    )
    add = agencies.add_parser("add", help="create an agency and print its token once")
    add.add_argument("name")
    add.add_argument("--type", required=True, choices=[t.value for t in AgencyType])
    add.set_defaults(func=cmd_agencies_add)
    ls = agencies.add_parser("list")
    ls.set_defaults(func=cmd_list, kind="agency")

    users = sub.add_parser("users", help="hub staff, leads, admins").add_subparsers(
        dest="users_cmd", required=True
    )
    uadd = users.add_parser("add", help="create a person and print their token once")
    uadd.add_argument("email")
    uadd.add_argument("--role", required=True, choices=[r.value for r in Role])
    uadd.add_argument("--password", help="dashboard password (prefer --password-stdin)")
    uadd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    uadd.set_defaults(func=cmd_users_add)
    uls = users.add_parser("list")
    uls.set_defaults(func=cmd_list, kind="person")

    tokens = sub.add_parser("tokens", help="bearer tokens").add_subparsers(
        dest="tokens_cmd", required=True
    )
    rev = tokens.add_parser("revoke", help="revoke a token (or all of a principal's)")
    rev.add_argument("token_id", nargs="?")
    rev.add_argument("--principal", help="revoke every token of this principal (name or id)")
    rev.set_defaults(func=cmd_tokens_revoke)
    iss = tokens.add_parser("issue", help="issue a new token for a principal")
    iss.add_argument("principal", help="name or id")
    iss.set_defaults(func=cmd_tokens_issue)

    matching = sub.add_parser("matching", help="the record-matching model").add_subparsers(
        dest="matching_cmd", required=True
    )
    tr = matching.add_parser(
        "train", help="estimate the model from the stored records (no labels needed)"
    )
    tr.add_argument("--sample", type=int, default=50_000, help="records to train on at most")
    tr.add_argument("--note", help="why this model was trained (kept with it)")
    tr.set_defaults(func=cmd_matching_train)
    ri = matching.add_parser(
        "reindex", help="recompute blocking and household keys (after a key change)"
    )
    ri.set_defaults(func=cmd_matching_reindex)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit_cmd", required=True
    )
    ver = audit.add_parser("verify", help="verify the hash chain, then seal pending events")
    ver.add_argument("--full", action="store_true", help="walk the whole chain, not only new")
    ver.add_argument(
        "--head", type=_audit_head, metavar="SEQ:HASH", help="a head from `audit anchor`"
    )
    ver.set_defaults(func=cmd_audit_verify)
    late = audit.add_parser(
        "seal-late",
        help="seal events an outage left unsealed past the grace period, once examined",
    )
    late.add_argument("event_ids", nargs="+", type=_event_id, metavar="EVENT_ID")
    late.set_defaults(func=cmd_audit_seal_late)
    anc = audit.add_parser("anchor", help="print the chain's head (SEQ:HASH) to keep elsewhere")
    anc.set_defaults(func=cmd_audit_anchor)

    sched = sub.add_parser("scheduler", help="run only the alert scheduler (production)")
    sched.set_defaults(func=cmd_scheduler)
    alerts = sub.add_parser("alerts", help="threshold alerts").add_subparsers(
        dest="alerts_cmd", required=True
    )
    once = alerts.add_parser("run-once", help="one sweep, escalation check and delivery round")
    once.add_argument("--full", action="store_true", help="evaluate every child, not only new")
    once.add_argument("--force", action="store_true", help="run even if a scheduler is active")
    once.set_defaults(func=cmd_alerts_run_once)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "tokens_cmd", None) == "revoke" and not (args.token_id or args.principal):
        print("error: name a token id or --principal", file=sys.stderr)
        return 2
    handler: Handler = args.func
    settings = get_settings()
    if args.command not in ("db", "serve", "scheduler") and not _schema_ready(settings):
        return 1
    return handler(args, settings)


def _schema_ready(settings: Settings) -> bool:
    """Every command meets an up-to-date schema, as `serve` does: SQLite (the embedded
    default) is brought up to date; PostgreSQL, migrated as a release step, is named."""
    from aggregator.core.migrate import pending_heads, upgrade

    if settings.is_sqlite:
        upgrade(settings)
        return True
    try:
        pending = pending_heads(settings)
    except OSError as exc:
        print(f"error: cannot reach the database ({type(exc).__name__})", file=sys.stderr)
        return False
    if pending:
        print(
            "error: the database schema is not up to date; run `aggregator db upgrade`",
            file=sys.stderr,
        )
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
