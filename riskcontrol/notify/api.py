"""HTTP and websocket API of notifications: the live inbox, read receipts, and Twilio's callbacks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, WebSocket
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from riskcontrol.core.db import transaction
from riskcontrol.core.errors import Forbidden, NotFound
from riskcontrol.core.http import AppContext, Ctx, CurrentPrincipal, Db, PathId, socket_principal, until_first_ends
from riskcontrol.core.i18n import phrase
from riskcontrol.core.live import RESYNC, Fanouts
from riskcontrol.core.outages import closed_on_outage
from riskcontrol.notify import service
from riskcontrol.notify.senders import inbox_channel
from riskcontrol.notify.sms import normalize_cn_mobile, parse_status_callback, twilio_signature_ok

router = APIRouter(tags=["notify"])

TWILIO_STATUS_PATH = "/api/v1/notify/twilio/status"
TWILIO_INBOUND_PATH = "/api/v1/notify/twilio/inbound"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.get("/api/v1/notify/inbox")
def list_inbox(db: Db, principal: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict[str, Any]]:
    """The caller's newest inbox items."""
    return [service.serialize(n) for n in service.inbox(db, user_id=principal.user_id, limit=limit)]


@router.post("/api/v1/notify/inbox/{notification_id}/read", status_code=204)
def read_item(notification_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> Response:
    """Mark one of the caller's items read (and so delivered)."""
    if not service.mark_read(db, ctx.clock, user_id=principal.user_id, notification_id=notification_id):
        raise NotFound(phrase("refusal.inbox.not_found", id=notification_id), field="notification_id")
    db.commit()
    return Response(status_code=204)


async def _signed_form(request: Request, ctx: AppContext, path: str) -> FormData:
    """Twilio's form, refused unless signed with our auth token over the public URL Twilio called."""
    form = await request.form()
    settings = ctx.settings
    url = settings.public_base_url.rstrip("/") + path
    params = {k: str(v) for k, v in form.multi_items()}
    token = settings.twilio_auth_token or ""
    if not token or not twilio_signature_ok(token, url, params, request.headers.get("x-twilio-signature")):
        raise Forbidden(phrase("refusal.sms.signature"), field="X-Twilio-Signature")
    return form


@router.post(TWILIO_STATUS_PATH, include_in_schema=False)
async def twilio_status(request: Request, ctx: Ctx) -> Response:
    """Delivery reports; an undelivered or failed SMS makes the escalation move on at once."""
    form = await _signed_form(request, ctx, TWILIO_STATUS_PATH)
    receipt = parse_status_callback({k: str(v) for k, v in form.multi_items()})

    def apply() -> None:
        with transaction(ctx.sessions) as db:
            service.record_receipt(db, ctx.clock, ctx.events, receipt)

    await run_in_threadpool(apply)
    return Response(status_code=204)


@router.post(TWILIO_INBOUND_PATH, include_in_schema=False)
async def twilio_inbound(request: Request, ctx: Ctx) -> Response:
    """An SMS reply: '1' acknowledges what the sender was last asked to acknowledge."""
    form = await _signed_form(request, ctx, TWILIO_INBOUND_PATH)
    sender, body = str(form.get("From", "")), str(form.get("Body", ""))

    def apply() -> None:
        try:
            phone = normalize_cn_mobile(sender)
        except ValueError:
            return
        with transaction(ctx.sessions) as db:
            user = service.user_by_mobile(db, phone)
            if user is not None:
                ctx.events.emit(db, ctx.clock, service.SmsReplied(user.id, body.strip()))

    await run_in_threadpool(apply)
    return Response(content=EMPTY_TWIML, media_type="application/xml")


def _snapshot(ctx: AppContext, user_id: int) -> list[dict[str, Any]]:
    with ctx.sessions() as db:
        items = [service.serialize(n) for n in service.inbox(db, user_id=user_id)]
        db.rollback()
    return items


def _newest(ctx: AppContext, user_id: int) -> int:
    with ctx.sessions() as db:
        return service.newest_item_id(db, user_id=user_id)


def inbox_fanouts(ctx: AppContext) -> Fanouts:
    """This process's subscriptions to its users' inboxes, one per user shared by her screens."""
    fanouts: Fanouts | None = ctx.extras.get("inbox_fanouts")
    if fanouts is None:
        fanouts = ctx.extras["inbox_fanouts"] = Fanouts(ctx.bus, retry_seconds=ctx.settings.bus_retry_seconds)
    return fanouts


def _receipt(ctx: AppContext, user_id: int, data: Any) -> dict[str, Any] | None:
    """Store a screen's receipt; the reply confirms it (None for a message that is not a receipt)."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), int) or data.get("type") not in ("received", "read"):
        return None
    with transaction(ctx.sessions) as db:
        if data["type"] == "received":
            service.mark_delivered(db, ctx.clock, user_id=user_id, notification_id=data["id"])
        else:
            service.mark_read(db, ctx.clock, user_id=user_id, notification_id=data["id"])
    return {"type": "receipt", "of": data["type"], "id": data["id"]}


@router.websocket("/ws/inbox")
async def inbox_socket(websocket: WebSocket) -> None:
    """The caller's inbox, live: a snapshot first, then each new item; the screen sends receipts back.

    While the bus is down the socket stays open and new items come from the database within a few
    seconds; each such catch-up ends with a "resync", so the screen fetches its list again.
    """
    ctx: AppContext = websocket.app.state.ctx
    async with closed_on_outage(websocket):
        principal = await socket_principal(websocket)
        if principal is None:
            return
        await websocket.accept()
        user_id = principal.user_id
        # Listen before taking the snapshot, so nothing committed in between is missed.
        async with inbox_fanouts(ctx).listen(inbox_channel(user_id), lambda: _newest(ctx, user_id)) as queue:
            items = await run_in_threadpool(_snapshot, ctx, user_id)
            sent = {item["id"] for item in items}
            await websocket.send_json({"type": "snapshot", "items": items})

            async def catch_up() -> None:
                # What the bus may have missed: the newest items this screen was not given yet.
                for item in reversed(await run_in_threadpool(_snapshot, ctx, user_id)):
                    if item["id"] not in sent:
                        sent.add(item["id"])
                        await websocket.send_json({"type": "notification", "notification": item})

            async def forward() -> None:
                while True:
                    envelope = await queue.get()
                    if envelope.message == RESYNC:
                        await catch_up()
                    else:
                        pushed = envelope.message.get("notification")
                        if isinstance(pushed, dict) and isinstance(pushed.get("id"), int):
                            sent.add(pushed["id"])
                    await websocket.send_text(envelope.text)

            async def receive() -> None:
                while True:
                    data = await websocket.receive_json()
                    stored = await run_in_threadpool(_receipt, ctx, user_id, data)
                    if stored is not None:
                        await websocket.send_json(stored)

            await until_first_ends(forward, receive)
