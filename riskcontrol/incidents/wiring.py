"""Wiring incidents into the deadline sweeper and the domain events of the domains below."""

from __future__ import annotations

from riskcontrol.core.deadlines import DeadlineHandlers
from riskcontrol.escalation import service as escalation_service
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.from_warning import FROM_WARNING, on_escalation_began, on_major_opinion, on_warning_due
from riskcontrol.incidents.paging import on_delivery_failed
from riskcontrol.incidents.tasks import TASK_OVERDUE, on_task_overdue
from riskcontrol.notify import service as notify
from riskcontrol.observations.opinion_service import MajorOpinionConfirmed


def register(cfg: IncidentConfig, handlers: DeadlineHandlers) -> None:
    """Wire incidents into the deadline sweeper and the domain events."""
    handlers.register(TASK_OVERDUE, on_task_overdue(cfg))
    handlers.register(FROM_WARNING, on_warning_due(cfg))
    cfg.events.subscribe(notify.DeliveryFailed, on_delivery_failed(cfg))
    cfg.events.subscribe(escalation_service.Began, on_escalation_began(cfg))
    cfg.events.subscribe(MajorOpinionConfirmed, on_major_opinion(cfg))
