"""The `dunning-connector` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)


def _record_id(text: str) -> int:
    """A database id: a positive integer the id columns can hold."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"{text} is not a valid id")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dunning-connector", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web app (waitress)")
    serve.add_argument("--with-scheduler", action="store_true",
                       help="also run the scheduled jobs in this process (single-process deployments)")
    sub.add_parser("worker", help="run the scheduled jobs (drain, tick, reconcile, backfill, purge) "
                   "without the web app")
    sub.add_parser("demo", help="sample Stripe events into a sandbox installation (preview), then serve")
    sub.add_parser("tick", help="apply time-driven changes now (days past due, due dates)")
    sub.add_parser("drain", help="drain every active installation's outbox now")
    sub.add_parser("installations", help="list installations")
    backfill = sub.add_parser("backfill", help="read 12 months of a billing connection's history, Stripe or Chargebee (resumes)")
    backfill.add_argument("connection_id", type=_record_id, help="billing connection id")
    backfill.add_argument("--restart", action="store_true", help="forget the cursors and read it all again")
    reconcile = sub.add_parser("reconcile", help="recover missed events and heal CRM drift now")
    reconcile.add_argument("installation_id", type=_record_id)
    reconcile.add_argument("--full", action="store_true", help="also re-read every open and uncollectible invoice")
    args = parser.parse_args(argv)

    from connector.config import ConfigError

    try:
        return _COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"dunning-connector: {exc}", file=sys.stderr)  # noqa: T201
        return 2


def _app(config: dict | None = None):  # noqa: ANN202
    from app import create_app

    return create_app(config)


def _port() -> int:
    return int(os.environ.get("PORT", "8000"))


def _serve(app, *, with_scheduler: bool) -> int:  # noqa: ANN001
    from waitress import serve

    from connector.context import get_services
    from connector.scheduler import start_scheduler, stop_scheduler

    if with_scheduler:
        start_scheduler(get_services(app))
    host = os.environ.get("HOST", "127.0.0.1")
    log.info("serve.listening url=http://%s:%s/", host, _port())
    try:
        serve(app, host=host, port=_port(), threads=8)
    finally:
        stop_scheduler()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from connector.context import get_services

    app = _app()
    # DUNNING_SCHEDULER=1 does what --with-scheduler does, for deployments configured by environment.
    return _serve(app, with_scheduler=args.with_scheduler or get_services(app).settings.scheduler_enabled)


def cmd_worker(_args: argparse.Namespace) -> int:
    import time

    from connector.context import get_services
    from connector.scheduler import start_scheduler, stop_scheduler

    start_scheduler(get_services(_app()))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop_scheduler()
    return 0


def cmd_demo(_args: argparse.Namespace) -> int:
    from connector.demo import prepare_demo

    app = prepare_demo()
    return _serve(app, with_scheduler=True)


def cmd_tick(_args: argparse.Namespace) -> int:
    from connector import jobs
    from connector.context import get_services

    print(f"{jobs.tick(get_services(_app()))} customers changed")  # noqa: T201
    return 0


def cmd_drain(_args: argparse.Namespace) -> int:
    from connector import jobs
    from connector.context import get_services

    for inst, counts in jobs.drain_all(get_services(_app())).items():
        print(f"installation {inst}: {counts.as_dict()}")  # noqa: T201
    return 0


def cmd_installations(_args: argparse.Namespace) -> int:
    from sqlmodel import select

    from connector.context import get_services
    from connector.storage.db import session_scope
    from connector.storage.models import Installation

    with session_scope(get_services(_app()).engine) as s:
        for i in s.exec(select(Installation).order_by(Installation.id)):
            mode = "preview" if i.preview else "live"
            print(f"{i.id}\t{i.crm}\t{i.external_id}\t{i.status}\t{mode}\t{i.name}")  # noqa: T201
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from connector.backfill import BackfillUnavailable, backfill_connection
    from connector.context import get_services

    bars: dict[str, tqdm] = {}

    def progress(stream: str, count: int, done: bool) -> None:
        # Stripe lists carry no total, so each stream shows a count and a rate.
        bar = bars.get(stream) or bars.setdefault(stream, tqdm(desc=f"{stream:>22}", unit=" obj"))
        bar.update(count)
        if done:
            bar.close()

    try:
        report = backfill_connection(get_services(_app()), args.connection_id, progress=progress,
                                     restart=args.restart)
    except BackfillUnavailable as exc:
        print(f"dunning-connector: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    finally:
        for bar in bars.values():
            bar.close()
    state = "complete" if report.complete else "incomplete (run again to resume)"
    print(f"backfill {state}: {report.objects} objects, {report.customers_refreshed} customers, "  # noqa: T201
          f"{report.calls} Stripe calls")
    return 0 if report.complete else 1


def cmd_reconcile(args: argparse.Namespace) -> int:
    import json

    from connector.context import get_services
    from connector.reconcile import reconcile_installation

    try:
        report = reconcile_installation(get_services(_app()), args.installation_id, full=args.full)
    except LookupError as exc:
        print(f"dunning-connector: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(json.dumps(report.as_dict(), indent=2, default=str))  # noqa: T201
    return 0 if report.outcome != "failed" else 1


_COMMANDS = {"serve": cmd_serve, "worker": cmd_worker, "demo": cmd_demo, "tick": cmd_tick,
             "drain": cmd_drain, "installations": cmd_installations, "backfill": cmd_backfill,
             "reconcile": cmd_reconcile}

if __name__ == "__main__":
    sys.exit(main())
