"""The customer export: stable English machine columns from the API by default, the reader's language
(headers and segment names) when asked -- which the web console's export links always do."""

from __future__ import annotations

import csv
import io
import re

from test_analytics_pages import history, login, use_lang  # noqa: F401 - the fixture

from qoima.analytics.domain.customer_metrics import SEGMENTS
from qoima.entrypoints.web import i18n


def _csv(response) -> list[dict]:
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_api_export_keeps_machine_columns_unless_a_language_is_asked(client, world, history):  # noqa: F811
    headers = world.headers("seller_a")
    plain = _csv(client.get("/api/v1/customers", params={"format": "csv"}, headers=headers))
    assert {"customer_id", "segment", "clv", "recency_days"} <= set(plain[0])
    assert {r["segment"] for r in plain} <= set(SEGMENTS)
    ru = _csv(client.get("/api/v1/customers", params={"format": "csv", "lang": "ru"}, headers=headers))
    assert len(ru) == len(plain)
    assert {"Номер покупателя", "Сегмент", "Дней с последнего заказа"} <= set(ru[0]), list(ru[0])
    ru_segments = {i18n.get_translations("ru").gettext(s) for s in SEGMENTS}
    assert {r["Сегмент"] for r in ru} <= ru_segments and "Champions" not in {r["Сегмент"] for r in ru}
    kk = _csv(client.get("/api/v1/customers", params={"format": "csv", "lang": "kk"}, headers=headers))
    assert "Сегмент" in kk[0] and "Сатып алушы нөмірі" in kk[0]


def test_the_web_export_link_passes_the_user_language(client, world, history):  # noqa: F811
    login(client, "a@seller-a.kz")
    use_lang(client, "uk")
    html = client.get("/customers/list").text
    href = re.search(r'href="(/api/v1/customers\?[^"]*format=csv[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "lang=uk" in href
    rows = _csv(client.get(href))
    assert "Номер покупця" in rows[0] and "Сегмент" in rows[0]
