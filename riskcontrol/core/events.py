"""In-transaction domain events: lower domains emit, higher domains subscribe at composition.

A handler runs inside the emitter's transaction, so a reaction (a red observation opening an
incident) is as durable as its cause. The live bus is separate: it only tells screens what committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock

EventHandler = Callable[[Session, Clock, Any], None]


@dataclass
class Events:
    """Subscribers per event type; `emit` calls each in order in the caller's transaction."""

    subscribers: dict[type, list[EventHandler]] = field(default_factory=dict)

    def subscribe(self, event_type: type, handler: EventHandler) -> None:
        handlers = self.subscribers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

    def emit(self, db: Session, clock: Clock, event: object) -> None:
        for handler in self.subscribers.get(type(event), []):
            handler(db, clock, event)
