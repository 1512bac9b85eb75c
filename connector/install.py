"""What happens right after an installation is created or reconnected."""

from __future__ import annotations

import logging

from connector.context import Services
from connector.crm import adapter_for
from connector.errors import ConnectorError
from connector.playbook_runner import ensure_lists
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, Installation

log = logging.getLogger(__name__)


def on_installed(*, services: Services, installation_id: int, created: bool) -> None:
    """Ensure the CRM schema (property group and §3 fields); problems are recorded, nothing overwritten.

    Schema is created in preview as well as live: it changes no customer data (PRODUCT.md §6).
    """
    report = adapter_for(services, installation_id).ensure_schema()
    now = services.clock()
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation_id)
        inst.status_reason = ("CRM fields need attention: " + "; ".join(report.problems))[:500] \
            if report.problems else ""
        s.add(inst)
        s.add(AuditLog(installation_id=installation_id, at=now, action="schema.ensured",
                       detail={"created": report.created, "updated": report.updated,
                               "problems": report.problems, "first_install": created}))
    log.info("install.schema installation=%s created=%s problems=%s", installation_id,
             len(report.created), len(report.problems))
    try:
        ensure_lists(services, installation_id)  # the risk-segment lists (§3), in either mode
    except ConnectorError as exc:
        # The install stands; the lists can be made again from the dashboard (segment-lists API).
        log.warning("install.lists_failed installation=%s error=%s", installation_id, exc)
