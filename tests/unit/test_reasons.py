"""Sourcing reasons and timeline texts: the stored English encodes (code, params) without loss."""

from hypothesis import given, strategies as st

from qoima.orders.domain import reasons, sourcing

RU = {"1 parcel from %(codes)s": "1 посылка со склада %(codes)s",
      "%(options)s option(s) with %(parcels)s parcel(s)": "вариантов с посылками (%(parcels)s): %(options)s",
      "received via %(channel)s": "получен через: %(channel)s", "Shop webhook": "вебхук магазина",
      "re-sourced: %(plan)s (%(note)s)": "пересобран: %(plan)s (%(note)s)",
      "%(parcels)s parcels from %(codes)s (nearest first)": "посылок: %(parcels)s, склады %(codes)s (сначала ближайшие)"}
CODE = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789", min_size=1, max_size=8)


@given(codes=st.lists(CODE, min_size=1, max_size=4), options=st.integers(2, 99), parcels=st.integers(1, 9),
       depth=st.integers(0, 10**6), km=st.integers(0, 20000))
def test_sourcing_reasons_round_trip(codes, options, parcels, depth, km):
    parts = [reasons.text("sourcing.one_parcel", codes="+".join(codes)),
             reasons.text("sourcing.options", options=options, parcels=parcels),
             reasons.text("sourcing.nearest", km=km), reasons.text("sourcing.depth", depth=depth)]
    stored = reasons.joined(parts)
    parsed = reasons.parse(stored)
    assert [c for c, _ in parsed] == ["sourcing.one_parcel", "sourcing.options", "sourcing.nearest", "sourcing.depth"]
    assert parsed[0][1] == {"codes": "+".join(codes)}
    assert reasons.localize(stored, lambda m: m) == stored  # English renders back to the same text


def test_the_chosen_plan_reason_is_parsed_and_localized():
    stock = [sourcing.WarehouseStock(1, "ALA", 43.2, 76.9, {1: 5}), sourcing.WarehouseStock(2, "AST", 51.1, 71.4, {1: 5})]
    plan = sourcing.choose([sourcing.Line(1, "A", 2)], stock, 43.2, 76.9)
    assert plan.reason.startswith("1 parcel from ALA; 2 option(s) with 1 parcel(s)")
    code, params = reasons.describe(plan.reason)
    assert code == "sourcing.one_parcel" and params[1] == {"code": "sourcing.options", "options": "2", "parcels": "1"}
    shown = reasons.localize(plan.reason, lambda m: RU.get(m, m))
    assert shown.startswith("1 посылка со склада ALA; вариантов с посылками (1): 2")


def test_nested_and_labelled_params_and_free_text():
    stored = reasons.text("timeline.resourced_note", plan=reasons.text("sourcing.split", parcels=2, codes="ALA+AST"),
                          note="customer asked (twice)")
    assert reasons.localize(stored, lambda m: RU.get(m, m)) == \
        "пересобран: посылок: 2, склады ALA+AST (сначала ближайшие) (customer asked (twice))"
    received = reasons.text("timeline.received", channel="webhook")
    assert reasons.localize(received, lambda m: RU.get(m, m), {"channel": {"webhook": "Shop webhook"}}) == \
        "получен через: вебхук магазина"
    assert reasons.parse("the customer called") is None
    assert reasons.localize("the customer called", lambda m: "X") == "the customer called"
    assert reasons.describe("") == (None, None)


def test_the_floor_writes_its_timeline_in_templates_the_reader_sees_in_their_language():
    from qoima.entrypoints.web.i18n import localize_reason
    short = reasons.joined([reasons.text("floor.short", missing=1, sku="SKU-3", location="A-01", order="X-1"),
                            reasons.text("floor.short_resourced", reserved=1, codes="AST")])
    assert [c for c, _ in reasons.parse(short)] == ["floor.short", "floor.short_resourced"]
    assert localize_reason(short, "ru") == ("недостача при сборке: не хватает 1 × SKU-3 в ячейке A-01 (заказ X-1); "
                                            "1 перераспределено на AST")
    packed = reasons.text("floor.packed_in", warehouse="ALA", parcels=2, trackings="QM1KZ, QM2KZ")
    assert reasons.parse(packed)[0][0] == "floor.packed_in"  # not the older "packed in N parcel(s)"
    assert localize_reason(packed, "kk").startswith("ALA қоймасында буылды")
    handed = reasons.text("floor.handed_from", carrier="courier", manifest="M-000001", warehouse="AST")
    assert localize_reason(handed, "uk") == "передано перевізнику courier за реєстром M-000001 (зі складу AST)"
    for code, template in reasons.TEMPLATES.items():  # every floor text parses back to its own code
        if code.startswith("floor."):
            names = __import__("re").findall(r"%\((\w+)\)s", template)
            assert reasons.parse(template % {n: f"v{i}" for i, n in enumerate(names)})[0][0] == code


def test_the_floor_ledger_rows_are_shown_in_the_reader_s_language():
    from qoima.entrypoints.web.i18n import localize_ledger
    assert localize_ledger(reasons.text("ledger.picked_into_tote", tote=2, line=17), "ru") == \
        "собрано в ящик 2 (строка задания 17)"
    assert localize_ledger(reasons.text("ledger.short_pick", missing=1, line=3), "uk") == \
        "нестача під час збирання: бракує 1 (рядок завдання 3)"
    assert localize_ledger("picked 2 x SKU-1 from A-01 into tote 1", "ru") == "picked 2 x SKU-1 from A-01 into tote 1"
