"""The receiving pages: a seller announces a delivery (typed lines or a CSV file), staff receive it by
scans (barcode or SKU in any case, one unit per scan) and typed quantities, see the discrepancies, confirm,
and land on the receipt's page; the ad-hoc receipt form takes any number of lines and, when one is bad,
comes back with every typed line kept and the bad one marked, nothing booked."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from test_web_pages import csrf_of, login

from qoima.db import tables as t

A_SKU1_BARCODE = "4870000009015"


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _announce(client, **extra) -> int:
    token = csrf_of(client.get("/inbound").text)
    data = {"csrf": token, "warehouse": "ALA", "supplier": "Steppe Ceramics", "expected_at": "2026-12-10",
            "sku": ["sku-1", "SKU-2", ""], "expected": ["3", "2", ""], **extra}
    r = client.post("/inbound", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_seller_announces_staff_scans_sees_discrepancies_and_confirms(client, world):
    login(client, "a@seller-a.kz")
    asn_id = _announce(client)
    page = client.get(f"/inbound/{asn_id}?lang=en").text
    assert "Steppe Ceramics" in page and "SKU-1" in page and 'name="scan"' not in page  # sellers do not receive
    client.cookies.clear()
    login(client, "worker@qoima.local")
    page = client.get(f"/inbound/{asn_id}?lang=en").text
    token = csrf_of(page)
    form = {"csrf": token, "location": "RCV", "op": "op-1", "action": "scan"}
    draft: dict[str, str] = {}
    for code in (A_SKU1_BARCODE, "sku-1", A_SKU1_BARCODE, A_SKU1_BARCODE, "SKU-3"):  # SKU-3 is not announced
        r = client.post(f"/inbound/{asn_id}/receive", data={**form, "scan": code, "sku": list(draft),
                                                            "received": list(draft.values())})
        assert r.status_code == 200
        draft = dict(zip(re.findall(r'name="sku" value="([^"]*)"', r.text),
                         re.findall(r'name="received" value="([^"]*)"', r.text)))
    assert draft == {"SKU-1": "4", "SKU-2": "", "SKU-3": "1"}
    assert 'data-state="over"' in r.text and 'data-state="waiting"' in r.text and 'data-state="unexpected"' in r.text
    unknown = client.post(f"/inbound/{asn_id}/receive", data={**form, "scan": "NOPE", "sku": list(draft),
                                                               "received": list(draft.values())})
    assert "Unknown barcode or SKU: NOPE" in unknown.text
    assert _count(world.engine, t.receipts) == 5  # nothing booked while scanning
    draft["SKU-2"] = "1"
    r = client.post(f"/inbound/{asn_id}/receive", data={**form, "action": "confirm", "sku": list(draft),
                                                        "received": list(draft.values())}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/receipts/")
    receipt = client.get(r.headers["location"]).text
    assert f'href="/inbound/{asn_id}"' in receipt and "worker@qoima.local" in receipt
    assert receipt.count("<tr") >= 4 and "+4" in receipt
    again = client.post(f"/inbound/{asn_id}/receive", data={**form, "action": "confirm", "sku": list(draft),
                                                            "received": list(draft.values())}, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"]  # the same form twice: booked once
    assert _count(world.engine, t.receipts) == 6
    page = client.get(f"/inbound/{asn_id}").text
    assert "partially_received" in page


def test_receive_refuses_out_of_bounds_quantities_naming_the_line(client, world):
    login(client, "a@seller-a.kz")
    asn_id = _announce(client)
    client.cookies.clear()
    login(client, "worker@qoima.local")
    token = csrf_of(client.get(f"/inbound/{asn_id}").text)
    for received, text in ((["99999999999", ""], "Line 1: the received quantity must be a whole number from 0 to"),
                           (["0", "0"], "Enter a received quantity above 0 on at least one line.")):
        r = client.post(f"/inbound/{asn_id}/receive?lang=en", data={
            "csrf": token, "location": "RCV", "action": "confirm", "sku": ["SKU-1", "SKU-2"], "received": received})
        assert r.status_code == 422 and text in r.text, r.text[-2000:]
    assert _count(world.engine, t.receipts) == 5


def test_ad_hoc_receipt_keeps_every_line_and_marks_the_bad_one(client, world):
    login(client, "admin@qoima.local")
    token = csrf_of(client.get("/receipts").text)
    base = {"csrf": token, "seller": "seller-a", "place": "ALA|RCV", "supplier": "Acme"}
    before = (_count(world.engine, t.receipts), _count(world.engine, t.stock_movements))
    r = client.post("/receipts?lang=en", data={**base, "sku": ["SKU-1", "NOPE-9", "sku-3", "SKU-2"],
                                               "expected": ["2", "1", "1", "1"], "received": ["2", "1", "1", "1"]})
    assert r.status_code == 422
    for sku in ("SKU-1", "NOPE-9", "sku-3", "SKU-2"):
        assert f'value="{sku}"' in r.text
    assert "Line 2: unknown SKU or barcode NOPE-9." in r.text and r.text.count('class="line-row line-bad"') == 1
    assert (_count(world.engine, t.receipts), _count(world.engine, t.stock_movements)) == before
    for data, text in (({"sku": ["SKU-1"], "received": ["99999999999"]}, "Line 1: the received quantity"),
                       ({"sku": ["SKU-1"], "received": ["1"], "supplier": "x" * 5000},
                        "The supplier name must be at most 200 characters (it has 5000)."),
                       ({"sku": ["SKU-1", "SKU-2"], "received": ["0", ""]}, "Enter a received quantity above 0")):
        r = client.post("/receipts?lang=en", data={**base, "expected": ["1"] * len(data["sku"]), **data})
        assert r.status_code == 422 and text in r.text, text
    more = client.post("/receipts", data={**base, "action": "add_line", "sku": ["SKU-1"], "expected": ["1"],
                                          "received": ["1"]})
    assert more.status_code == 200 and more.text.count("data-line>") == 2
    ok = client.post("/receipts", data={**base, "sku": ["sku-1", "", "SKU-2"], "expected": ["1", "", "1"],
                                        "received": ["1", "", "1"]}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/receipts/")
    assert _count(world.engine, t.receipts) == before[0] + 1
    listing = client.get("/receipts?q=ku-2").text
    assert ok.headers["location"] in listing


def test_announce_by_csv_reports_every_bad_line_and_announces_nothing(client, world):
    login(client, "a@seller-a.kz")
    token = csrf_of(client.get("/inbound").text)
    bad = b"sku,expected\nSKU-1,5\nNOPE,1\nsku-2,99999999999\n"
    r = client.post("/inbound?lang=en", data={"csrf": token, "warehouse": "ALA", "supplier": "Acme"},
                    files={"file": ("asn.csv", bad, "text/csv")})
    assert r.status_code == 422 and "line 3" in r.text and "line 4" in r.text
    assert _count(world.engine, t.inbound_deliveries) == 0
    good = b"sku,expected\nSKU-1,5\nsku-2,7\n"
    r = client.post("/inbound", data={"csrf": token, "warehouse": "ALA", "supplier": "Acme"},
                    files={"file": ("asn.csv", good, "text/csv")}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "SKU-2" in page and ">7<" in page


def test_announce_form_refuses_an_implausible_day_and_keeps_the_lines(client, world):
    login(client, "a@seller-a.kz")
    token = csrf_of(client.get("/inbound").text)
    r = client.post("/inbound?lang=en", data={"csrf": token, "warehouse": "ALA", "expected_at": "2999-01-01",
                                              "sku": ["SKU-1", "NOPE"], "expected": ["1", "2"]})
    assert r.status_code == 422 and "The expected day must be between 2000-01-01 and" in r.text
    assert 'value="NOPE"' in r.text and _count(world.engine, t.inbound_deliveries) == 0
    r = client.post("/inbound?lang=en", data={"csrf": token, "warehouse": "ALA", "sku": ["SKU-1", "NOPE"],
                                              "expected": ["1", "2"]})
    assert r.status_code == 422 and "Line 2: unknown SKU or barcode NOPE." in r.text


def test_control_characters_and_odd_locations_are_a_message_not_an_error_page(client, world):
    login(client, "a@seller-a.kz")
    asn_id = _announce(client)
    client.cookies.clear()
    login(client, "worker@qoima.local")
    token = csrf_of(client.get(f"/inbound/{asn_id}").text)
    r = client.post(f"/inbound/{asn_id}/receive", data={"csrf": token, "location": "R\x00", "action": "confirm",
                                                        "sku": ["SKU-1"], "received": ["1"]})
    assert r.status_code == 422 and "location" in r.text
    r = client.post(f"/inbound/{asn_id}/receive", data={"csrf": token, "location": "Z-99", "action": "confirm",
                                                        "sku": ["SKU-1"], "received": ["1"]})
    assert r.status_code == 422 and "Z-99" in r.text
    assert _count(world.engine, t.receipts) == 5
