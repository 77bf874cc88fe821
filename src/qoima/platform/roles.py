"""The role matrix: who may open every API route and every web page, and who may
see what. One home for the rule; pure data and pure functions.

`API` and `WEB` name, per route (HTTP method and the route's path template, as
FastAPI declares it), the roles that may call it. The entrypoints enforce them
centrally (`entrypoints/api/authorize.py` for the API, `web/common.py` for the
pages) and refuse a route that has no rule here (deny by default), so a new route
cannot ship without a line in this file; `tests/api/test_tenant_isolation.py`
checks every route against the real application for every role.

The matrix, as a 3PL runs it:
- **admin**: everything;
- **manager**: everything operational and commercial, but not the admin-only
  things (users, the web administration, replaying an outbox event);
- **worker** (warehouse floor): stock, receipts, transfers, moves, counts, the
  orders it picks and packs (lines, reservations, status moves), but no customer
  contact data, no money, no analytics, no exports, no imports, and it may
  neither create nor cancel an order;
- **seller**: their own seller's data only (tenant isolation lives in the
  services: another seller's record is 404), as they work today. A seller helps
  itself: it creates and edits its products and barcodes, imports its products
  and orders (into its own seller only: a row of another seller is refused),
  exports its orders (CSV / XLSX) and sets low-stock alerts on its SKUs. It does
  NOT import stock counts: what is on a shelf is the warehouse's count (receipts,
  counts, adjustments by the floor and the office), never the seller's word, so
  `IMPORT_STOCK` stays with the office.

What a role may *see* inside a page it may open (customer contacts, money) and
the few decisions inside a route (cancelling an order, each kind of import) are
the `ABILITIES` below; `may(role, ability)` answers them.

Hand-written rather than a policy library (casbin, oso): the rule is a table of
some fifty rows checked on every request, and a dict lookup keeps it readable,
typed and free of a policy language.
"""

from __future__ import annotations

from typing import Final

from qoima.platform.access import ROLES

ADMIN, MANAGER, WORKER, SELLER = ROLES

PUBLIC: Final = frozenset({"*"})
"""Anyone, signed in or not (sign-in itself, health checks)."""

EVERYONE = frozenset(ROLES)
STAFF = frozenset({ADMIN, MANAGER, WORKER})  # the operator's people: the floor and the office
OFFICE = frozenset({ADMIN, MANAGER})  # running the operation
COMMERCIAL = frozenset({ADMIN, MANAGER, SELLER})  # customers, money, analytics, orders placed and cancelled
ADMIN_ONLY = frozenset({ADMIN})

# --- abilities: what a role may see or do inside a route ------------------------------------------------------

SEE_CONTACTS = "see customer contacts"  # names, phones, e-mails, addresses
SEE_MONEY = "see money"  # prices, totals, revenue
CANCEL_ORDERS = "cancel orders"
IMPORT_ORDERS = "import orders"
IMPORT_PRODUCTS = "import products"
IMPORT_STOCK = "import stock counts"

ABILITIES: dict[str, frozenset[str]] = {
    SEE_CONTACTS: COMMERCIAL,
    SEE_MONEY: COMMERCIAL,
    CANCEL_ORDERS: COMMERCIAL,
    IMPORT_ORDERS: COMMERCIAL,
    IMPORT_PRODUCTS: COMMERCIAL,
    IMPORT_STOCK: OFFICE,
}

IMPORTS = {"orders": IMPORT_ORDERS, "products": IMPORT_PRODUCTS, "stock": IMPORT_STOCK}
"""The ability each kind of import needs (dry runs included)."""

# --- the routes -----------------------------------------------------------------------------------------------

API: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,  # sign-in for API clients (throttled)
    ("GET", "/api/v1/tokens"): EVERYONE,  # your own tokens; an admin sees everyone's
    ("DELETE", "/api/v1/tokens/{token_id}"): EVERYONE,  # your own; someone else's is 404 unless admin
    ("GET", "/api/v1/sellers"): EVERYONE,  # a seller sees their own
    ("POST", "/api/v1/sellers"): OFFICE,
    ("POST", "/api/v1/sellers/{code}/webhook-secret"): OFFICE,
    ("GET", "/api/v1/warehouses"): EVERYONE,
    ("POST", "/api/v1/users"): ADMIN_ONLY,
    ("GET", "/api/v1/products"): EVERYONE,  # prices hidden from the floor
    ("POST", "/api/v1/products"): COMMERCIAL,
    ("GET", "/api/v1/products/{product_id}"): EVERYONE,  # prices hidden from the floor
    ("PUT", "/api/v1/products/{product_id}"): COMMERCIAL,
    ("POST", "/api/v1/orders/import"): COMMERCIAL,
    ("POST", "/api/v1/products/import"): COMMERCIAL,
    ("POST", "/api/v1/stock/import"): OFFICE,
    ("GET", "/api/v1/jobs/{job_id}"): COMMERCIAL,  # import reports carry customer rows
    ("POST", "/api/v1/orders"): COMMERCIAL,
    ("GET", "/api/v1/orders"): EVERYONE,  # contacts and money hidden from the floor
    ("GET", "/api/v1/orders/{order_id}"): EVERYONE,
    ("POST", "/api/v1/orders/{order_id}/transitions"): EVERYONE,  # the status rules say which moves
    ("POST", "/api/v1/orders/{order_id}/cancel"): COMMERCIAL,
    ("POST", "/api/v1/orders/{order_id}/resource"): STAFF,
    ("GET", "/api/v1/stock"): EVERYONE,
    ("POST", "/api/v1/receipts"): STAFF,
    ("POST", "/api/v1/transfers"): STAFF,
    ("POST", "/api/v1/transfers/{transfer_id}/receive"): STAFF,
    ("POST", "/api/v1/moves"): STAFF,
    ("POST", "/api/v1/adjustments"): STAFF,
    ("POST", "/api/v1/inbound"): COMMERCIAL,  # a seller announces its own deliveries; the office for a seller
    ("POST", "/api/v1/inbound/import"): COMMERCIAL,  # the floor imports nothing
    ("GET", "/api/v1/inbound"): EVERYONE,  # a seller sees its own
    ("GET", "/api/v1/inbound/{asn_id}"): EVERYONE,
    ("POST", "/api/v1/inbound/{asn_id}/receipts"): STAFF,
    ("POST", "/api/v1/inbound/{asn_id}/close"): STAFF,
    ("POST", "/api/v1/inbound/{asn_id}/cancel"): COMMERCIAL,  # only before anything was received
    ("GET", "/api/v1/receipts/{receipt_id}"): EVERYONE,  # a seller sees its own
    ("GET", "/api/v1/kpis"): EVERYONE,
    ("GET", "/api/v1/customers"): COMMERCIAL,  # and its CSV / XLSX exports
    ("GET", "/api/v1/analytics/customers"): COMMERCIAL,
    ("GET", "/api/v1/analytics/clv"): COMMERCIAL,
    ("GET", "/api/v1/analytics/loyalty"): COMMERCIAL,
    ("POST", "/api/v1/customers/merge"): COMMERCIAL,
    ("GET", "/api/v1/customers/merges"): COMMERCIAL,
    ("GET", "/api/v1/outbox"): OFFICE,
    ("POST", "/api/v1/outbox/{event_id}/replay"): ADMIN_ONLY,
    # the warehouse floor: the office releases waves and edits settings, the floor picks, packs and hands over;
    # a seller sees nothing of it (its orders' status is on the order pages)
    ("GET", "/api/v1/floor/waves"): OFFICE,
    ("POST", "/api/v1/floor/waves"): OFFICE,
    ("POST", "/api/v1/floor/tasks/next"): STAFF,
    ("GET", "/api/v1/floor/tasks/{task_id}"): STAFF,
    ("POST", "/api/v1/floor/tasks/{task_id}/scans"): STAFF,
    ("POST", "/api/v1/floor/tasks/{task_id}/undo"): STAFF,
    ("POST", "/api/v1/floor/tasks/{task_id}/short"): STAFF,
    ("GET", "/api/v1/floor/exceptions/{task_id}"): OFFICE,  # the shift lead resolves exceptions, not the floor
    ("POST", "/api/v1/floor/exceptions/{task_id}/resolve"): OFFICE,
    ("GET", "/api/v1/floor/settings/{warehouse}"): OFFICE,
    ("PUT", "/api/v1/floor/settings/{warehouse}"): OFFICE,
    ("GET", "/api/v1/floor/boxes"): STAFF,
    ("PUT", "/api/v1/floor/boxes/{code}"): OFFICE,
    ("GET", "/api/v1/floor/pack"): STAFF,
    ("POST", "/api/v1/floor/pack/{order_id}/scans"): STAFF,
    ("POST", "/api/v1/floor/pack/{order_id}/close"): STAFF,
    # the label carries the recipient's name, phone and address: the floor prints it, as it must to ship
    ("GET", "/api/v1/floor/parcels/{parcel_id}/label.pdf"): STAFF,
    ("GET", "/api/v1/floor/parcels/{parcel_id}/label.zpl"): STAFF,
    ("GET", "/api/v1/floor/printer-font.zpl"): STAFF,
    ("GET", "/api/v1/floor/orders/{order_id}/slip.pdf"): STAFF,
    ("POST", "/api/v1/floor/manifests"): STAFF,
    ("GET", "/api/v1/floor/manifests/{manifest_id}"): STAFF,
    ("POST", "/api/v1/floor/manifests/{manifest_id}/scans"): STAFF,
    ("POST", "/api/v1/floor/manifests/{manifest_id}/close"): STAFF,
    ("GET", "/api/v1/floor/manifests/{manifest_id}/manifest.pdf"): STAFF,
}

WEB: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/"): EVERYONE,
    ("GET", "/orders"): EVERYONE,
    ("GET", "/orders/{order_id}"): EVERYONE,
    ("POST", "/orders/bulk"): EVERYONE,  # hold / release / cancel / print the selected: each order's own rules
    ("GET", "/orders/print"): EVERYONE,  # the pick list of the selected orders (the floor: no prices, contacts)
    ("GET", "/search"): EVERYONE,  # the header box: customers only for the roles that may open /customers
    ("POST", "/orders/{order_id}/transition"): EVERYONE,
    ("POST", "/orders/{order_id}/resource"): STAFF,
    ("GET", "/stock"): EVERYONE,
    ("GET", "/products"): EVERYONE,
    ("GET", "/receipts"): EVERYONE,
    ("POST", "/receipts"): STAFF,
    # stock work (web/pages/stock_ops.py): the floor does it; a seller sees the history of its own SKUs only
    ("GET", "/stock/putaway"): STAFF,
    ("POST", "/stock/putaway"): STAFF,
    ("GET", "/stock/work"): STAFF,
    ("POST", "/stock/move"): STAFF,
    ("POST", "/stock/adjust"): STAFF,
    ("POST", "/stock/count"): STAFF,
    ("GET", "/stock/transfers"): STAFF,
    ("POST", "/stock/transfers"): STAFF,
    ("POST", "/stock/transfers/{transfer_id}/receive"): STAFF,
    ("GET", "/stock/products/{product_id}/history"): EVERYONE,  # another seller's product is 404
    ("GET", "/stock/locations/{location_id}/history"): STAFF,  # a cell holds every seller's goods
    ("GET", "/stock/settings"): STAFF,  # the floor sees how its docks work
    ("POST", "/stock/settings"): OFFICE,  # and the office sets it
    ("GET", "/receipts/{receipt_id}"): EVERYONE,  # a seller sees its own
    ("GET", "/inbound"): EVERYONE,
    ("POST", "/inbound"): COMMERCIAL,  # announce (lines typed, or a CSV file)
    ("GET", "/inbound/{asn_id}"): EVERYONE,
    ("POST", "/inbound/{asn_id}/receive"): STAFF,  # scan, recount, confirm
    ("POST", "/inbound/{asn_id}/close"): STAFF,
    ("POST", "/inbound/{asn_id}/cancel"): COMMERCIAL,
    ("GET", "/imports"): COMMERCIAL,
    ("POST", "/imports"): COMMERCIAL,
    ("GET", "/imports/{job_id}"): COMMERCIAL,
    ("GET", "/imports/{job_id}/status"): COMMERCIAL,
    ("POST", "/imports/{job_id}/commit"): COMMERCIAL,  # write the file a valid check-only run read
    ("GET", "/products/new"): COMMERCIAL,  # a seller its own products; staff for a chosen seller
    ("POST", "/products/new"): COMMERCIAL,
    ("GET", "/products/{product_id}"): COMMERCIAL,
    ("POST", "/products/{product_id}"): COMMERCIAL,
    ("GET", "/orders/export"): COMMERCIAL,  # the floor exports nothing
    ("GET", "/alerts"): COMMERCIAL,  # low-stock alerts: they use the sales rate (commercial data)
    ("POST", "/alerts"): COMMERCIAL,
    ("GET", "/customers"): COMMERCIAL,
    ("GET", "/customers/list"): COMMERCIAL,
    ("GET", "/loyalty"): COMMERCIAL,
    ("GET", "/admin/sellers"): ADMIN_ONLY,
    ("POST", "/admin/sellers"): ADMIN_ONLY,
    ("GET", "/admin/users"): ADMIN_ONLY,
    ("POST", "/admin/users"): ADMIN_ONLY,
    ("POST", "/admin/sellers/{code}/webhook-secret"): ADMIN_ONLY,
    ("GET", "/admin/tokens"): ADMIN_ONLY,
    ("POST", "/admin/tokens/{token_id}/revoke"): ADMIN_ONLY,
    ("POST", "/admin/sellers/{code}"): ADMIN_ONLY,  # a seller's name and webhook URL
    ("POST", "/admin/users/{user_id}"): ADMIN_ONLY,  # name, role, seller, language, active
    ("POST", "/admin/users/{user_id}/password"): ADMIN_ONLY,  # a new password (the user's sessions end)
    ("POST", "/admin/users/{user_id}/deactivate"): ADMIN_ONLY,
    ("GET", "/admin/warehouses"): OFFICE,  # managers read the calendars and reach the locations
    ("GET", "/admin/warehouses/{code}"): ADMIN_ONLY,  # the edit form
    ("POST", "/admin/warehouses"): ADMIN_ONLY,
    ("POST", "/admin/warehouses/{warehouse}"): ADMIN_ONLY,
    ("GET", "/admin/warehouses/{code}/locations"): OFFICE,
    ("POST", "/admin/warehouses/{code}/locations"): OFFICE,
    ("POST", "/admin/warehouses/{code}/locations/pattern"): OFFICE,
    ("GET", "/account"): EVERYONE,  # your own password and sessions
    ("POST", "/account/password"): EVERYONE,
    ("POST", "/account/logout-everywhere"): EVERYONE,
    ("GET", "/floor"): OFFICE,  # the floor board (pickers' rates: not for the floor itself)
    ("GET", "/floor/scan"): STAFF,  # the scanner pages
    ("GET", "/floor/pack"): STAFF,
    ("GET", "/floor/handover"): STAFF,
    ("GET", "/floor/exceptions/{task_id}"): OFFICE,  # an exception and its resolution (the shift lead)
    ("POST", "/floor/exceptions/{task_id}"): OFFICE,
    ("GET", "/floor/waves"): OFFICE,
    ("POST", "/floor/waves"): OFFICE,
    ("GET", "/floor/settings"): OFFICE,
    ("POST", "/floor/settings"): OFFICE,
    ("POST", "/floor/boxes"): OFFICE,
}

RULES: dict[tuple[str, str], frozenset[str]] = {**API, **WEB}
assert len(RULES) == len(API) + len(WEB), "an API route and a web page share a method and path"


def rule(method: str, path: str | None) -> frozenset[str] | None:
    """The roles that may call `method path` (a route's path template); PUBLIC for anyone; None: no rule."""
    if path is None:
        return None
    return RULES.get(("GET" if method == "HEAD" else method, path))


def is_public(method: str, path: str | None) -> bool:
    return rule(method, path) is PUBLIC


def allows(role: str | None, method: str, path: str | None) -> bool:
    """May someone with `role` (None: not signed in) call this route? No rule: no."""
    who = rule(method, path)
    if who is None:
        return False
    return who is PUBLIC or (role is not None and role in who)


def refusal(role: str | None, method: str, path: str | None) -> str | None:
    """Why the route is refused to this role (None when it is allowed), for the 403 message."""
    who = rule(method, path)
    if who is None:
        return f"{method} {path} has no rule in the role matrix, so it is refused to everyone"
    if allows(role, method, path):
        return None
    return (f"{method} {path} needs the role {' or '.join(r for r in ROLES if r in who)}; "
            f"you are {role or 'not signed in'}")


def may(role: str | None, ability: str) -> bool:
    """May this role see or do `ability` (one of ABILITIES)? An unknown ability: no."""
    return role is not None and role in ABILITIES.get(ability, frozenset())


def roles_with(ability: str) -> tuple[str, ...]:
    """The roles that have an ability, in the order of ROLES (for Principal.require and messages)."""
    return tuple(r for r in ROLES if r in ABILITIES.get(ability, frozenset()))
