"""Reconciles started from the dashboard: one background thread per installation, at most one.

A reconcile reads Stripe and the CRM in batches and can take minutes on a large portal, longer
than a browser or proxy waits for one request; so the button starts it and the page polls its
state. The run itself is recorded by the reconciler as a SyncRun, whichever process ran it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.context import Services

log = logging.getLogger(__name__)


@dataclass
class RunState:
    installation_id: int
    full: bool
    started_at: datetime
    state: str = "running"  # running | done | failed
    finished_at: datetime | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    thread: threading.Thread | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat().replace("+00:00", "Z") if d else None

        return {"state": self.state, "full": self.full, "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at), "result": self.result, "error": self.error}


_runs: dict[int, RunState] = {}
_lock = threading.Lock()


def _reconcile_function(services: Services) -> Callable[..., Any]:
    # Tests may stand in a reconciler; the real one lives in connector/reconcile.py.
    override = services.extras.get("reconcile")
    if override is not None:
        return override
    from connector.reconcile import reconcile_installation

    return reconcile_installation


def _as_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "as_dict"):
        return result.as_dict()
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return dict(result) if isinstance(result, dict) else {"result": str(result)}


def start(services: Services, installation_id: int, *, full: bool) -> tuple[RunState, bool]:
    """Start a reconcile unless one is running; returns its state and whether it was started now."""
    with _lock:
        current = _runs.get(installation_id)
        if current is not None and current.state == "running":
            return current, False
        run = RunState(installation_id, full, services.clock())
        run.thread = threading.Thread(target=_run, args=(services, run), name=f"reconcile-{installation_id}",
                                      daemon=True)
        _runs[installation_id] = run
    run.thread.start()
    return run, True


def _run(services: Services, run: RunState) -> None:
    try:
        result = _reconcile_function(services)(services, run.installation_id, full=run.full)
        run.result = _as_dict(result)
        run.state = "done"
    except Exception as exc:
        log.exception("reconcile.dashboard_run_failed installation=%s", run.installation_id)
        run.error = f"{type(exc).__name__}: the reconcile stopped; see the server log."
        run.state = "failed"
    finally:
        run.finished_at = services.clock()
    try:
        from connector.sync_health import refresh_health

        refresh_health(services, run.installation_id)
    except Exception:
        log.exception("health.refresh_failed installation=%s", run.installation_id)


def status(installation_id: int) -> RunState | None:
    with _lock:
        return _runs.get(installation_id)


def wait(installation_id: int, timeout: float | None = None) -> RunState | None:
    """Block until the installation's run ends (tests, the CLI)."""
    run = status(installation_id)
    if run is not None and run.thread is not None:
        run.thread.join(timeout)
    return run


def forget_all(join_timeout: float | None = None) -> None:
    """Wait for running threads (up to `join_timeout` each), then forget every run (tests)."""
    with _lock:
        runs = list(_runs.values())
    for run in runs:
        if run.thread is not None and join_timeout is not None:
            run.thread.join(join_timeout)
    with _lock:
        _runs.clear()
