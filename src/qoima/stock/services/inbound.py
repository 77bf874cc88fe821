"""Supplier deliveries (receipts / ASN) and transfers between warehouses.

Each use case validates its input, then locks every stock row it will touch in
one statement (inventory.lock_rows), then changes them. Waiting orders are not
filled here: the stock.changed events written with the change make the orders
capability fill them right after the commit (`orders_allocated` stays in the
answers for compatibility and is empty)."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from qoima.db import tables as t
from qoima.platform.bounds import INT32_MAX
from qoima.platform.errors import Conflict, NotFound, ValidationError
from qoima.platform.access import Principal
from qoima.catalog.services import resolve_seller
from qoima.stock.services import putaway
from qoima.stock.services.inventory import add_on_hand, location_row, lock_rows, product_row, remove_on_hand
from qoima.stock.domain import asn as asn_rules
from qoima.stock.schemas import ReceiptIn, TransferIn
from qoima.stock.services.skus import product_by_code
from qoima.platform.unit_of_work import UnitOfWork, utcnow


def _warehouse(uow: UnitOfWork, code: str, field: str):
    row = uow.execute(select(t.warehouses).where(t.warehouses.c.code == code)).first()
    if row is None:
        raise ValidationError("unknown warehouse '%(warehouse)s'", field=field, code="stock.unknown_warehouse",
                              warehouse=code)
    return row


def receive(uow: UnitOfWork, principal: Principal, data: ReceiptIn, asn_id: int | None = None) -> dict:
    """Book a supplier delivery: expected vs received per line; what was received
    goes on hand at the location (and then fills backorders, after the commit).
    SKUs are found in any letter case or by barcode (skus.py); at least one line
    must receive something. `asn_id`: the inbound delivery it is booked against (asn.py)."""
    principal.require("admin", "manager", "worker")
    seller = resolve_seller(uow, principal, data.seller)
    wh = _warehouse(uow, data.warehouse, "warehouse")
    loc = location_row(uow, code=data.location, warehouse_code=wh.code, field="location")
    seen, products = {}, []
    for i, line in enumerate(data.lines):
        product = product_by_code(uow, principal, seller.id, line.sku, field=f"lines[{i}].sku")
        if product.id in seen:
            raise ValidationError("SKU '%(sku)s' appears twice (lines %(first)s and %(line)s)",
                                  field=f"lines[{i}].sku", code="stock.duplicate_sku", sku=product.sku,
                                  first=seen[product.id] + 1, line=i + 1)
        seen[product.id] = i
        products.append(product)
    if not any(line.received for line in data.lines):
        raise ValidationError(asn_rules.NOTHING_RECEIVED, field="lines", code="stock.nothing_received")
    if len(data.supplier) > asn_rules.SUPPLIER_MAX:
        problem = asn_rules.text_problems(data.supplier)[0]
        raise ValidationError(problem.template, field=problem.field, code=problem.code, **problem.params)
    cell = putaway.auto_target(uow, loc)  # an 'auto_putaway' warehouse: the dock's goods go on into this cell
    locked = lock_rows(uow, adds=[(p.id, place.id, wh.id) for p, line in zip(products, data.lines) if line.received
                                  for place in ((loc, cell) if cell else (loc,))])
    for i, (product, line) in enumerate(zip(products, data.lines)):
        row = locked.get((product.id, loc.id))
        if row is not None and row.on_hand + line.received > INT32_MAX:  # a 32-bit column
            raise ValidationError("%(sku)s: %(on_hand)s on hand at %(location)s and %(received)s received "
                                  "would pass %(max)s, the most one location holds",
                                  field=f"lines[{i}].received", code="stock.receipt_overflow", sku=product.sku,
                                  on_hand=row.on_hand, location=loc.code, received=line.received, max=INT32_MAX)
    now = utcnow()
    rid = uow.execute(insert(t.receipts).values(
        seller_id=seller.id, warehouse_id=wh.id, supplier=data.supplier, reference=data.reference,
        status="closed", created_at=now, closed_at=now, asn_id=asn_id, actor=principal.email)
        .returning(t.receipts.c.id)).scalar_one()
    discrepancies, booked = [], []
    for product, line in zip(products, data.lines):
        uow.execute(insert(t.receipt_lines).values(receipt_id=rid, product_id=product.id,
                                                   expected_qty=line.expected, received_qty=line.received))
        booked.append({"sku": product.sku, "product_id": product.id, "expected": line.expected,
                       "received": line.received})
        if line.received:
            add_on_hand(uow, product_id=product.id, location_id=loc.id, warehouse_id=wh.id, quantity=line.received,
                        kind="receipt", actor=principal.email, reason=f"supplier delivery {data.supplier}".strip(),
                        reference=f"receipt:{rid}")
        if line.received != line.expected:
            discrepancies.append({"sku": product.sku, "expected": line.expected, "received": line.received,
                                  "difference": line.received - line.expected})
    if cell is not None:
        putaway.put_away(uow, principal.email, loc, cell, [(p.id, line.received) for p, line in zip(products, data.lines)])
    return {"id": rid, "warehouse": wh.code, "location": loc.code, "discrepancies": discrepancies,
            "lines": booked, "asn_id": asn_id, "orders_allocated": [],
            **({"put_away_to": cell.code} if cell is not None else {})}


def start_transfer(uow: UnitOfWork, principal: Principal, data: TransferIn) -> dict:
    """Goods leave the origin (ledger transfer_out) and are in transit until received."""
    principal.require("admin", "manager", "worker")
    seller = resolve_seller(uow, principal, data.seller)
    src = _warehouse(uow, data.from_warehouse, "from_warehouse")
    dst = _warehouse(uow, data.to_warehouse, "to_warehouse")
    if src.id == dst.id:
        raise ValidationError("a transfer needs two different warehouses", field="to_warehouse",
                              code="stock.transfer_same_warehouse")
    picks = [(product_row(uow, principal, line.sku, seller.id, field=f"lines[{i}].sku"),
              location_row(uow, code=line.from_location, warehouse_code=src.code, field=f"lines[{i}].from_location"))
             for i, line in enumerate(data.lines)]
    lock_rows(uow, removes=[(product.id, loc.id) for product, loc in picks])
    now = utcnow()
    tid = uow.execute(insert(t.transfers).values(seller_id=seller.id, from_warehouse_id=src.id, to_warehouse_id=dst.id,
                                                 status="in_transit", actor=principal.email, created_at=now)
                      .returning(t.transfers.c.id)).scalar_one()
    for line, (product, loc) in zip(data.lines, picks):
        remove_on_hand(uow, product_id=product.id, location_id=loc.id, quantity=line.quantity, kind="transfer_out",
                       actor=principal.email, reason=f"transfer to {dst.code}", reference=f"transfer:{tid}",
                       sku=line.sku)
        uow.execute(insert(t.transfer_lines).values(transfer_id=tid, product_id=product.id, from_location_id=loc.id,
                                                    quantity=line.quantity))
    return {"id": tid, "status": "in_transit", "from": src.code, "to": dst.code}


def receive_transfer(uow: UnitOfWork, principal: Principal, transfer_id: int, location_code: str) -> dict:
    principal.require("admin", "manager", "worker")
    q = select(t.transfers).where(t.transfers.c.id == transfer_id)
    tr = uow.execute(q.with_for_update() if uow.is_postgres else q).first()
    if tr is None or not principal.can_see(tr.seller_id):
        raise NotFound("transfer %(id)s not found", code="stock.no_transfer", id=transfer_id)
    if tr.status != "in_transit":
        raise Conflict("transfer %(id)s is already %(transfer_status)s", field="status", code="stock.transfer_done",
                       id=transfer_id, transfer_status=tr.status)
    dst = uow.execute(select(t.warehouses).where(t.warehouses.c.id == tr.to_warehouse_id)).one()
    loc = location_row(uow, code=location_code, warehouse_code=dst.code, field="location")
    lines = uow.execute(select(t.transfer_lines).where(t.transfer_lines.c.transfer_id == tr.id)).all()
    cell = putaway.auto_target(uow, loc)
    lock_rows(uow, adds=[(ln.product_id, place.id, dst.id) for ln in lines
                         for place in ((loc, cell) if cell else (loc,))])
    for line in lines:
        add_on_hand(uow, product_id=line.product_id, location_id=loc.id, warehouse_id=dst.id, quantity=line.quantity,
                    kind="transfer_in", actor=principal.email, reason="transfer received", reference=f"transfer:{tr.id}")
    if cell is not None:
        putaway.put_away(uow, principal.email, loc, cell, [(ln.product_id, ln.quantity) for ln in lines])
    uow.execute(update(t.transfers).where(t.transfers.c.id == tr.id).values(status="received", received_at=utcnow()))
    return {"id": tr.id, "status": "received", "orders_allocated": []}
