"""Sellers, warehouses, locations and the product catalog."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from qoima.db import tables as t
from qoima.platform import secret_box, urlguard
from qoima.platform.errors import Conflict, NotFound, ValidationError
from qoima.catalog.domain.calendar import parse_hhmm
from qoima.catalog.domain.sellers import seller_problem
from qoima.platform import roles
from qoima.platform.bounds import control_character
from qoima.platform.access import Principal
from qoima.catalog.schemas import ProductIn
from qoima.platform.unit_of_work import UnitOfWork, utcnow


def create_seller(uow: UnitOfWork, principal: Principal, code: str, name: str, webhook_url: str | None = None) -> int:
    """A new seller with a sealed webhook secret (`rotate_webhook_secret` gives one that is shown)."""
    principal.require("admin", "manager")
    if webhook_url:
        webhook_url = urlguard.check(webhook_url).url  # no private, loopback or file: targets (SSRF)
    if uow.execute(select(t.sellers.c.id).where(t.sellers.c.code == code)).first():
        raise Conflict("seller '%(seller)s' already exists", field="code", code="catalog.seller_exists", seller=code)
    return uow.execute(insert(t.sellers).values(code=code, name=name, webhook_url=webhook_url, created_at=utcnow(),
                                                webhook_secret=secret_box.seal(secret_box.new_webhook_secret()))
                       .returning(t.sellers.c.id)).scalar_one()


def rotate_webhook_secret(uow: UnitOfWork, principal: Principal, seller_id: int) -> str:
    """A new signing secret for the seller's webhooks, returned once (only its sealed form is kept);
    deliveries from now on are signed with it."""
    principal.require("admin", "manager")
    plain = secret_box.new_webhook_secret()
    n = uow.execute(update(t.sellers).where(t.sellers.c.id == seller_id)
                    .values(webhook_secret=secret_box.seal(plain))).rowcount
    if not n:
        raise NotFound("no seller #%(id)s", field="seller", code="catalog.no_seller_id", id=seller_id)
    return plain


def create_warehouse(uow: UnitOfWork, principal: Principal, *, code: str, name: str, city: str = "",
                     timezone: str = "Asia/Almaty", cutoff_time: str = "14:00", handover_time: str = "18:00",
                     working_days: str = "12345", lat: float | None = None, lon: float | None = None) -> int:
    principal.require("admin")
    from zoneinfo import ZoneInfo
    try:
        ZoneInfo(timezone)
    except Exception:
        raise ValidationError("unknown time zone '%(timezone)s'", field="timezone", code="catalog.unknown_timezone",
                              timezone=timezone) from None
    for field, value in (("cutoff_time", cutoff_time), ("handover_time", handover_time)):
        try:
            parse_hhmm(value)
        except Exception:
            raise ValidationError("%(name)s must be HH:MM, got '%(value)s'", field=field, code="catalog.bad_time",
                                  value=value, name=field) from None
    if not working_days or any(c not in "1234567" for c in working_days):
        raise ValidationError("working_days are ISO weekday digits, e.g. 12345", field="working_days",
                              code="catalog.bad_working_days")
    return uow.execute(insert(t.warehouses).values(
        code=code, name=name, city=city, timezone=timezone, cutoff_time=cutoff_time, handover_time=handover_time,
        working_days=working_days, lat=lat, lon=lon, created_at=utcnow()).returning(t.warehouses.c.id)).scalar_one()


def create_location(uow: UnitOfWork, principal: Principal, *, warehouse_id: int, code: str, kind: str = "storage",
                    zone: str = "", aisle: str = "", position: str = "", level: str = "", x: float = 0,
                    y: float = 0) -> int:
    principal.require("admin", "manager")
    return uow.execute(insert(t.locations).values(
        warehouse_id=warehouse_id, code=code, kind=kind, zone=zone, aisle=aisle, position=position, level=level,
        x=x, y=y).returning(t.locations.c.id)).scalar_one()


def upsert_product(uow: UnitOfWork, principal: Principal, data: ProductIn) -> tuple[int, bool]:
    """Create or update a product by (seller, SKU); returns (id, created)."""
    principal.require("admin", "manager", "seller")
    seller = resolve_seller(uow, principal, data.seller)
    fields = data.model_dump(exclude={"seller", "barcodes"})
    row = uow.execute(select(t.products.c.id).where(t.products.c.seller_id == seller.id,
                                                    t.products.c.sku == data.sku)).first()
    if row is None:
        pid = uow.execute(insert(t.products).values(seller_id=seller.id, created_at=utcnow(), **fields)
                          .returning(t.products.c.id)).scalar_one()
    else:
        pid = row.id
        uow.execute(update(t.products).where(t.products.c.id == pid).values(**fields))
        uow.execute(delete(t.barcodes).where(t.barcodes.c.product_id == pid))
    for code in dict.fromkeys(data.barcodes):
        other = uow.execute(select(t.products.c.sku).join(t.barcodes).where(
            t.barcodes.c.seller_id == seller.id, t.barcodes.c.code == code)).first()
        if other is not None:
            raise Conflict("barcode %(barcode)s already belongs to SKU '%(sku)s'", field="barcodes",
                           code="catalog.barcode_taken", barcode=code, sku=other.sku)
        uow.execute(insert(t.barcodes).values(seller_id=seller.id, product_id=pid, code=code))
    return pid, row is None


def list_products(uow: UnitOfWork, principal: Principal, *, seller: str | None = None, q: str | None = None,
                  limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    from sqlalchemy import func, or_
    base = select(t.products, t.sellers.c.code.label("seller")).join(t.sellers)
    if not principal.is_staff:
        base = base.where(t.products.c.seller_id == principal.seller_id)
    if seller:
        base = base.where(t.sellers.c.code == seller)
    if q:
        like = f"%{q}%"
        base = base.where(or_(t.products.c.sku.ilike(like), t.products.c.name.ilike(like)))
    total = uow.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = uow.execute(base.order_by(t.products.c.seller_id, t.products.c.sku).limit(limit).offset(offset)).all()
    ids = [r.id for r in rows]
    codes: dict[int, list[str]] = {}
    if ids:
        for b in uow.execute(select(t.barcodes.c.product_id, t.barcodes.c.code).where(t.barcodes.c.product_id.in_(ids))):
            codes.setdefault(b.product_id, []).append(b.code)
    sees_money = roles.may(principal.role, roles.SEE_MONEY)  # the floor sees no prices
    items = [{"id": r.id, "seller": r.seller, "sku": r.sku, "name": r.name, "category": r.category,
              "price": str(r.price) if sees_money else None, "barcodes": codes.get(r.id, []), "weight_g": r.weight_g,
              "dimensions_mm": [r.length_mm, r.width_mm, r.height_mm], "marking_required": r.marking_required,
              "replenishment_days": r.replenishment_days} for r in rows]
    return items, total

def resolve_seller(uow: UnitOfWork, principal: Principal, code: str | None, field: str = "seller"):
    """The sellers row an input acts for (the rule and its messages: catalog.domain.sellers)."""
    if code is None or code == "":
        problem = seller_problem(code, principal.seller_id, True, field)
        if problem is not None:
            raise problem
        return uow.execute(select(t.sellers).where(t.sellers.c.id == principal.seller_id)).one()
    row = uow.execute(select(t.sellers).where(t.sellers.c.code == code)).first()
    problem = seller_problem(code, row.id if row is not None else None,
                             row is not None and principal.can_see(row.id), field)
    if problem is not None:
        raise problem
    return row


def update_seller(uow: UnitOfWork, principal: Principal, seller_id: int, name: str, webhook_url: str | None) -> None:
    """A seller's name and webhook URL (the code, which files and the API name it by, stays)."""
    principal.require("admin", "manager")
    if not name or len(name) > 200 or control_character(name):
        raise ValidationError("the name is required, at most 200 characters, no control characters", field="name",
                              code="seller.name", max=200)
    if webhook_url:
        webhook_url = urlguard.check(webhook_url).url
    n = uow.execute(update(t.sellers).where(t.sellers.c.id == seller_id)
                    .values(name=name, webhook_url=webhook_url or None)).rowcount
    if not n:
        raise NotFound("no seller #%(seller_id)s", field="seller", code="catalog.seller_not_found", seller_id=seller_id)
