"""`isnad feeds`, `isnad watch` and `isnad delete`: keeping the corpus current, and removing from it."""

from __future__ import annotations

import argparse
import sys

from rag.errors import IndexProblem
from rag.interfaces.cli import open_isnad, remote


def cmd_delete(args: argparse.Namespace) -> int:
    if args.server:
        server = remote(args)
        for ref in args.refs:
            r = server.delete(ref, purge=args.purge)
            print(f"removed {', '.join(r['removed'])}; {r['chunks']} chunk(s)")
        return 0
    report = open_isnad(args, progress=False).delete(args.refs, purge=args.purge, wait=not args.no_wait)
    for source in report.removed:
        print(f"removed {source}")
    print(f"{len(report.removed)} article(s) and {report.n_chunks} chunk(s) removed from the index")
    for f in report.trashed:
        print(f"kept in the trash: {f}")
    for f in report.purged:
        print(f"deleted: {f}")
    for f in report.left:
        print(f"your file is left where it is: {f}")
    if report.names_dropped:
        print(f"{report.names_dropped} harvested name(s) no other article mentions were forgotten")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from rag.ingest.feeds import FeedList

    isnad = open_isnad(args, progress=False)
    if args.action == "add":
        for url in args.urls:
            print(f"following {isnad.follow(url)}; `isnad feeds update` fetches its items")
    elif args.action == "remove":
        for url in args.urls:
            isnad.unfollow(url)
            print(f"no longer following {url} (the articles it brought stay)")
    elif args.action == "update":
        return _report_feeds(isnad.update_feeds(every_feed=args.all))
    else:
        feeds = FeedList.load(isnad.settings.index_dir)
        if not feeds.feeds:
            print("no feeds followed; `isnad feeds add URL` follows one")
        for f in feeds.feeds:
            state = (
                f"failing ({f.error}); next try {f.next_try}" if f.error else f"ok {f.ok or 'never checked'}"
            )
            print(f"{f.url}  {f.title or '(untitled)'}  {f.items_added} article(s)  {state}")
    return 0


def _report_feeds(report) -> int:
    for source in report.added:
        print(f"added {source}")
    for url, kept, outlet in report.duplicates:
        print(f"already in the corpus: {url} ({outlet}) tells the same story as {kept}; kept once")
    for url, why in report.item_errors:
        print(f"error: {url}: {why}", file=sys.stderr)
    for url, why in report.failed:
        print(f"feed failed: {url}: {why} (tried again later)", file=sys.stderr)
    for url in report.waiting:
        print(f"waiting after earlier failures: {url}")
    print(
        f"{len(report.checked)} feed(s) read, {len(report.added)} article(s) added, "
        f"{len(report.duplicates)} republished duplicate(s) skipped"
    )
    return 2 if report.failed or report.item_errors else 0


def cmd_watch(args: argparse.Namespace) -> int:
    """Update the feeds now and then every ``--every``, until stopped (or ``--rounds`` updates)."""
    import time

    from rag.ingest.feeds import parse_every

    every = parse_every(args.every).total_seconds()
    isnad, n, status = open_isnad(args, progress=False), 0, 0
    try:
        while True:
            n += 1
            print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] updating the feeds", flush=True)
            try:
                status = _report_feeds(isnad.update_feeds())
            except IndexProblem as e:  # another update running: this round is skipped, not the watch
                print(f"isnad: {e}", file=sys.stderr)
            if args.rounds and n >= args.rounds:
                return status
            time.sleep(every)
    except KeyboardInterrupt:
        return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The `delete`, `feeds` and `watch` commands."""
    s = sub.add_parser(
        "delete", help="remove articles from the index (by id or file name); Isnad's copies go to the trash"
    )
    s.add_argument("refs", nargs="+", help="document ids, file names or paths (see `isnad info --json`)")
    s.add_argument(
        "--purge",
        action="store_true",
        help="delete uploaded files and fetched pages instead of trashing them",
    )
    s.add_argument("--no-wait", action="store_true", help="fail at once if another ingest is writing")
    s.set_defaults(func=cmd_delete)

    s = sub.add_parser("feeds", help="follow RSS and Atom feeds: add, list, remove, update")
    s.add_argument("action", choices=("add", "list", "remove", "update"))
    s.add_argument("urls", nargs="*", help="feed addresses (add, remove)")
    s.add_argument("--all", action="store_true", help="update: also the feeds waiting after a failure")
    s.set_defaults(func=cmd_feeds)

    s = sub.add_parser(
        "watch", help="update the followed feeds now and every --every (30m, 1h, ...) until stopped"
    )
    s.add_argument("--every", default="30m", help="the interval, e.g. 30m, 1h, 1h30m (default 30m)")
    s.add_argument("--rounds", type=int, default=0, help="stop after this many updates (default: never)")
    s.set_defaults(func=cmd_watch)
