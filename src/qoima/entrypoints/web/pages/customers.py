"""Knowing the customers: the analytics overview (/customers), the customer list
with RFM segment, P(alive) and CLV (/customers/list) and the
fulfillment-to-loyalty report (/loyalty).

Everything is read from the seller's newest analytics snapshot, which the
background worker computes after the seller's orders change (debounced; see
analytics/services/refresh.py): a page view never fits a model. The pages say
when the snapshot was computed ("as of HH:MM", warehouse time) and, until the
worker's first snapshot of the seller, that it is being computed. A seller user
always sees their own seller; staff pick one with `?seller=CODE` (default: the
first seller).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from math import ceil
from urllib.parse import urlencode

from qoima.analytics.domain.customer_metrics import SEGMENTS
from qoima.platform.bounds import SafeQuery
from qoima.analytics.services import snapshots as analytics
from qoima.entrypoints.web import charts, i18n, lookups
from qoima.entrypoints.web.common import UserDep, Web, int_param, page_router
from qoima.entrypoints.web.i18n import N_

router = page_router()
PAGE_SIZE = 50
KM_POINTS = 60  # the Kaplan-Meier curves are drawn with about this many points

SEGMENT_LABELS = {
    "Champions": N_("Champions"), "Loyal": N_("Loyal"), "Potential loyalist": N_("Potential loyalist"),
    "New customers": N_("New customers"), "Promising": N_("Promising"), "Need attention": N_("Need attention"),
    "About to sleep": N_("About to sleep"), "At risk": N_("At risk"), "Cannot lose them": N_("Cannot lose them"),
    "Hibernating": N_("Hibernating"), "Lost": N_("Lost"),
}
SEGMENT_NOTES = {
    "Champions": N_("Bought recently, buy often and spend the most."),
    "Loyal": N_("Buy regularly and spend well."),
    "Potential loyalist": N_("Recent buyers with a few orders: can become loyal."),
    "New customers": N_("First order very recently."),
    "Promising": N_("Recent buyers who have not spent much yet."),
    "Need attention": N_("Average recency, frequency and spend; starting to slip."),
    "About to sleep": N_("Have not bought for a while and bought little."),
    "At risk": N_("Bought often and spent well, but not for a long time."),
    "Cannot lose them": N_("Used to be among the best buyers; gone quiet for long."),
    "Hibernating": N_("Last order long ago, few orders, low spend."),
    "Lost": N_("Lowest recency, frequency and spend."),
}
SEGMENT_COLORS = {
    "Champions": "#15803d", "Loyal": "#22c55e", "Potential loyalist": "#84cc16", "New customers": "#0ea5e9",
    "Promising": "#38bdf8", "Need attention": "#eab308", "About to sleep": "#f59e0b", "At risk": "#f97316",
    "Cannot lose them": "#dc2626", "Hibernating": "#94a3b8", "Lost": "#6b7280",
}
SORTS = {"clv": N_("CLV"), "monetary": N_("Revenue"), "frequency": N_("Number of orders"),
         "recency_days": N_("Days since last order"), "p_alive": N_("P(alive)"),
         "expected_purchases": N_("Expected purchases"), "name": N_("Customer name")}

COMPARISONS = {  # key -> (title, what is compared, label of group A, label of group B)
    "same_day_shipping": (N_("Same-day shipping"),
                          N_("Orders shipped on the day they were placed against orders shipped later."),
                          N_("Shipped the same day"), N_("Shipped later")),
    "on_time_delivery": (N_("On-time delivery"),
                         N_("Orders delivered by the promised date against late deliveries."),
                         N_("Delivered on time"), N_("Delivered late")),
    "correct_item": (N_("Picking accuracy"),
                     N_("Orders delivered without a picking error against orders with a wrong or missing item."),
                     N_("Correct items"), N_("Picking error")),
    "fast_return": (N_("Fast return processing"),
                    N_("Returns processed within %(days)s days of arrival at the warehouse against slower ones."),
                    N_("Return within %(days)s days"), N_("Return over %(days)s days")),
}
VERDICT_STYLE = {"sooner": "good", "more_often": "good", "later": "bad", "less_often": "bad",
                 "no_difference": "neutral", "too_little_data": "thin"}
GROUP_COLORS = ("#16a34a", "#dc2626")


# --- helpers -----------------------------------------------------------------------------------------------------

def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _seller_context(web: Web, seller: str | None) -> tuple[str | None, list[dict]]:
    """(the seller code the page shows, the sellers staff may pick from).

    A seller user's own seller always; `?seller=` of another seller is a 404
    (raised by the service). Staff get the first seller unless they pick one;
    None when there is no seller at all."""
    p = web.principal
    sellers: list[dict] = []
    if p.is_staff:
        with web.uow() as uow:
            sellers = lookups.sellers(uow, p)
        if not sellers:
            return None, []
    _, code = analytics.seller_for(web.engine, p, (seller or "").strip() or None)
    return code, sellers


def _url(web: Web, path: str, code: str | None, **params) -> str:
    """A link of these pages: staff keep the chosen seller; empty parameters are left out."""
    query = {k: v for k, v in params.items() if v not in (None, "")}
    if web.principal.is_staff and code:
        query = {"seller": code, **query}
    return path + ("?" + urlencode(query) if query else "")


def segment_label(web: Web, name: str | None) -> str:
    return web._(SEGMENT_LABELS[name]) if name in SEGMENT_LABELS else (name or "—")


def segment_note(web: Web, name: str | None) -> str:
    return web._(SEGMENT_NOTES[name]) if name in SEGMENT_NOTES else ""


def _money_short(v: float) -> str:
    return charts._num(v) + " ₸"


def as_of_text(web: Web, computed_at: str | datetime | None) -> str | None:
    """'as of 14:05' (warehouse time; with the date when it was not today), in the viewer's language."""
    if not computed_at:
        return None
    moment = datetime.fromisoformat(computed_at) if isinstance(computed_at, str) else computed_at
    local = moment.replace(tzinfo=timezone.utc).astimezone(i18n.WAREHOUSE_TZ)
    today = datetime.now(timezone.utc).astimezone(i18n.WAREHOUSE_TZ).date()
    shown = i18n.fmt_datetime(moment, web.lang, "HH:mm" if local.date() == today else "short")
    return web._("Figures as of %(time)s", time=shown)


# --- /customers --------------------------------------------------------------------------------------------------

@router.get("/customers")
def customers_page(web: UserDep, seller: SafeQuery | None = None):
    code, sellers = _seller_context(web, seller)
    if code is None:
        return web.render("customers.html", code=None, sellers=sellers, s=None)
    ov = analytics.overview(web.engine, web.principal, code)
    if ov["status"] == analytics.COMPUTING:
        return web.render("customers.html", code=code, sellers=sellers, s=None, computing=True)
    s = ov["summary"]
    ctx: dict = {"code": code, "sellers": sellers, "s": s, "ov": ov, "as_of": as_of_text(web, ov["computed_at"])}
    if s["customers"]:
        ctx.update(_overview_charts(web, ov))
        ctx.update(_clv_context(web, analytics.clv_model(web.engine, web.principal, code)))
        ctx["segments"] = [{**r, "label": segment_label(web, r["segment"]), "color": SEGMENT_COLORS.get(r["segment"]),
                            "note": segment_note(web, r["segment"]),
                            "url": _url(web, "/customers/list", code, segment=r["segment"])}
                           for r in ov["segments"]]
        ctx["winback_url"] = _url(web, "/customers/list", code, segment="At risk", sort="monetary")
        ctx["list_url"] = _url(web, "/customers/list", code)
    return web.render("customers.html", **ctx)


def _overview_charts(web: Web, ov: dict) -> dict:
    out: dict = {}
    curve = [r for r in ov["ltv_curve"] if _finite(r.get("ltv"))]
    if curve:
        out["ltv_chart"] = charts.line_chart(
            [r["month"] for r in curve], {web._("Revenue per customer"): [r["ltv"] for r in curve]},
            y_fmt=_money_short, x_label=web._("Months since first order"), y_label=web._("Revenue per customer, ₸"),
            width=640, height=300, y_min=0)
        out["ltv_last"] = curve[-1]
    cohorts = ov.get("cohorts")
    if cohorts and cohorts["cohorts"]:
        later = [v for row in cohorts["values"] for v in row[1:] if v is not None]
        rows = [f"{c} · {i18n.fmt_number(n, web.lang)}" for c, n in zip(cohorts["cohorts"], cohorts["sizes"])]
        out["heatmap"] = charts.heatmap(
            rows, [str(o) for o in cohorts["offsets"]], cohorts["values"], fmt=lambda v: f"{v * 100:.0f}%",
            cell_width=34, cell_height=24, vmin=0, vmax=max(later) if later and max(later) > 0 else 1)
        out["n_cohorts"] = len(cohorts["cohorts"])
    segs = ov["segments"]
    if segs:
        out["segment_chart"] = charts.bar_chart(
            [segment_label(web, r["segment"]) for r in segs], [r["customers"] for r in segs], horizontal=True,
            colors=[SEGMENT_COLORS.get(r["segment"], charts.PALETTE[0]) for r in segs],
            value_fmt=lambda v: i18n.fmt_number(v, web.lang, 0), width=520)
    return out


def _clv_context(web: Web, fit: dict) -> dict:
    if not fit.get("enough_data"):
        return {"clv": fit}
    rows = fit["calibration"]["rows"]
    out: dict = {"clv": fit}
    if rows:
        predicted, actual = web._("Predicted"), web._("Actual")
        out["calibration_chart"] = charts.line_chart(
            [r["label"] for r in rows], {predicted: [r["predicted"] for r in rows], actual: [r["actual"] for r in rows]},
            colors={predicted: "#2563eb", actual: "#f97316"}, points=True, y_min=0,
            x_label=web._("Repeat orders before the holdout period"), y_label=web._("Orders per customer"),
            width=560, height=280)
        known = [r for r in rows if _finite(r["predicted"]) and _finite(r["actual"])]  # NaN is stored as null
        n = sum(r["n_customers"] for r in known)
        total_pred = sum(r["predicted"] * r["n_customers"] for r in known)
        total_act = sum(r["actual"] * r["n_customers"] for r in known)
        out["calibration_totals"] = {"customers": n, "predicted": total_pred, "actual": total_act,
                                     "error": (total_pred - total_act) / total_act if total_act else None}
        end = fit["calibration"]["calibration_end"]
        out["calibration_end"] = datetime.fromisoformat(end) if end else None
    return out


# --- /customers/list ---------------------------------------------------------------------------------------------

@router.get("/customers/list")
def customer_list(web: UserDep, seller: SafeQuery | None = None, segment: SafeQuery | None = None, q: SafeQuery | None = None,
                  sort: SafeQuery | None = None, page: SafeQuery | None = None):
    code, sellers = _seller_context(web, seller)
    segment = segment if segment in SEGMENTS else ""
    sort = sort if sort in SORTS else "clv"
    query = (q or "").strip()[:100]
    page_no = int_param(page, 1, minimum=1)
    rows, total, computing, as_of = [], 0, False, None
    if code is not None:
        found = analytics.customer_list(web.engine, web.principal, analytics.CustomerQuery(
            code, segment or None, query or None, sort, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE))
        rows, total = found.rows, found.total
        computing, as_of = found.status == analytics.COMPUTING, as_of_text(web, found.computed_at)
    filters = {"segment": segment, "q": query, "sort": sort}
    export = {fmt: _url(web, "/api/v1/customers", code, format=fmt, segment=segment, q=query, sort=sort,
                        lang=web.lang)
              for fmt in ("csv", "xlsx")} if code else {}
    return web.render("customer_list.html", code=code, sellers=sellers, rows=rows, total=total, filters=filters,
                      page=page_no, pages=max(1, ceil(total / PAGE_SIZE)), page_size=PAGE_SIZE, export=export,
                      segments=[(s, segment_label(web, s)) for s in SEGMENTS],
                      sorts=[(k, web._(v)) for k, v in SORTS.items()],
                      segment_label=lambda name: segment_label(web, name), segment_colors=SEGMENT_COLORS,
                      segment_note=segment_note(web, segment),
                      overview_url=_url(web, "/customers", code), horizon=analytics.HORIZON_DAYS,
                      computing=computing, as_of=as_of)


# --- /loyalty ----------------------------------------------------------------------------------------------------

@router.get("/loyalty")
def loyalty_page(web: UserDep, seller: SafeQuery | None = None):
    code, sellers = _seller_context(web, seller)
    if code is None:
        return web.render("loyalty.html", code=None, sellers=sellers, report=None, cards=[])
    report = analytics.loyalty(web.engine, web.principal, code, lang=web.lang if web.lang in ("en", "ru", "kk", "uk") else "en")
    if report["status"] == analytics.COMPUTING:
        return web.render("loyalty.html", code=code, sellers=sellers, report=None, cards=[], computing=True)
    options = report.get("options", {})
    cards = [_comparison_card(web, c, options) for c in report["comparisons"]] if report["orders"] else []
    return web.render("loyalty.html", code=code, sellers=sellers, report=report, cards=cards, options=options,
                      as_of=as_of_text(web, report["computed_at"]),
                      min_events=options.get("min_events", 30), windows=options.get("windows", [30, 60, 90]))


def _km_chart(web: Web, a: dict, b: dict, label_a: str, label_b: str):
    """Both Kaplan-Meier curves (daily points) on one grid of about KM_POINTS days, with their bands.
    Each curve keeps its own last day, so neither line is cut short or broken."""
    ca, cb = a["curve"], b["curve"]
    if not ca.get("t") or not cb.get("t"):
        return None
    index = [{t: i for i, t in enumerate(c["t"])} for c in (ca, cb)]
    last = [c["t"][-1] for c in (ca, cb)]
    step = max(1, math.ceil(max(last) / KM_POINTS))
    grid = sorted({*range(0, int(max(last)) + 1, step), *last})
    series, bands = {}, {}
    for label, curve, idx in ((label_a, ca, index[0]), (label_b, cb, index[1])):
        at = [idx.get(x) for x in grid]
        series[label] = [curve["s"][i] if i is not None else None for i in at]
        bands[label] = ([curve["lo"][i] if i is not None else None for i in at],
                        [curve["hi"][i] if i is not None else None for i in at])
    return charts.line_chart(grid, series, bands=bands, colors={label_a: GROUP_COLORS[0], label_b: GROUP_COLORS[1]},
                             y_min=0, y_max=1, y_fmt=lambda v: f"{v * 100:.0f}%", points=False,
                             x_label=web._("Days since the order"), y_label=web._("Not yet back"),
                             width=620, height=300)


def _comparison_card(web: Web, c: dict, options: dict) -> dict:
    title, what, label_a, label_b = COMPARISONS.get(c["key"], (c["key"], "", c["group_a"]["group"],
                                                              c["group_b"]["group"]))
    days = i18n.fmt_number(options.get("return_threshold_days", 7), web.lang)
    tr = (lambda m: web._(m, days=days)) if c["key"] == "fast_return" else web._
    label_a, label_b = tr(label_a), tr(label_b)
    groups = []
    for g, label, color in ((c["group_a"], label_a, GROUP_COLORS[0]), (c["group_b"], label_b, GROUP_COLORS[1])):
        groups.append({**g, "label": label, "color": color})
    return {"key": c["key"], "title": web._(title), "what": tr(what), "verdict": c["verdict_text"],
            "verdict_key": c["verdict"]["key"], "style": VERDICT_STYLE.get(c["verdict"]["key"], "neutral"),
            "groups": groups, "chart": _km_chart(web, c["group_a"], c["group_b"], label_a, label_b),
            "days_sooner": c["days_sooner"], "days_sooner_lower": c["days_sooner_lower"],
            "days_sooner_upper": c["days_sooner_upper"], "logrank_p": c["logrank_p"],
            "rate_differences": c["rate_differences"], "label_a": label_a, "label_b": label_b,
            "thin": c["verdict"]["key"] == "too_little_data"}
