"""Packing slips and courier manifests as PDF (ReportLab, DejaVu Sans embedded).

Texts are in Russian, Kazakh, Ukrainian and English (`lang` "ru", "kk", "uk", "en"; another
value falls back to English). A packing slip holds the order, its lines, a thank-you with the
buyer's first name, and `insert_text`, a personal note (filled by a later issue). A manifest is
the act of handing parcels to a courier: a table of parcels, their total, the parcels that were
expected but not scanned, and signature lines for the warehouse and the courier; its number is
printed as a Code 128 too, so the courier's app can scan it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from qoima.platform.errors import ValidationError

LANGS = ("ru", "kk", "uk", "en")
MAX_LINES = 1000
MAX_PARCELS = 5000

TEXTS = {
    "ru": {"slip": "Упаковочный лист", "order": "Заказ", "seller": "Продавец", "sku": "Артикул",
           "name": "Наименование", "qty": "Кол-во", "total": "Всего единиц",
           "thanks": "Спасибо за покупку, %(name)s!", "thanks_anon": "Спасибо за покупку!",
           "manifest": "Акт приёма-передачи отправлений № %(number)s", "carrier": "Перевозчик",
           "warehouse": "Склад", "closed": "Закрыт", "tracking": "Трек-номер", "weight": "Вес, кг",
           "parcels": "Отправлений: %(count)s, общий вес: %(weight)s кг",
           "missing": "Не переданы (ожидались, но не отсканированы): %(count)s",
           "handed": "Сдал (склад)", "received": "Принял (курьер)", "sign": "подпись / ФИО / дата"},
    "kk": {"slip": "Қаптама парағы", "order": "Тапсырыс", "seller": "Сатушы", "sku": "Артикул",
           "name": "Атауы", "qty": "Саны", "total": "Барлық бірлік",
           "thanks": "Сатып алғаныңызға рахмет, %(name)s!", "thanks_anon": "Сатып алғаныңызға рахмет!",
           "manifest": "Жөнелтілімдерді қабылдау-тапсыру актісі № %(number)s", "carrier": "Тасымалдаушы",
           "warehouse": "Қойма", "closed": "Жабылды", "tracking": "Трек-нөмір", "weight": "Салмағы, кг",
           "parcels": "Жөнелтілімдер: %(count)s, жалпы салмағы: %(weight)s кг",
           "missing": "Тапсырылмады (күтілген, бірақ сканерленбеген): %(count)s",
           "handed": "Тапсырды (қойма)", "received": "Қабылдады (курьер)", "sign": "қолы / аты-жөні / күні"},
    "uk": {"slip": "Пакувальний лист", "order": "Замовлення", "seller": "Продавець", "sku": "Артикул",
           "name": "Найменування", "qty": "Кількість", "total": "Усього одиниць",
           "thanks": "Дякуємо за покупку, %(name)s!", "thanks_anon": "Дякуємо за покупку!",
           "manifest": "Акт приймання-передачі відправлень № %(number)s", "carrier": "Перевізник",
           "warehouse": "Склад", "closed": "Закрито", "tracking": "Трек-номер", "weight": "Вага, кг",
           "parcels": "Відправлень: %(count)s, загальна вага: %(weight)s кг",
           "missing": "Не передано (очікувались, але не відскановані): %(count)s",
           "handed": "Здав (склад)", "received": "Прийняв (кур'єр)", "sign": "підпис / ПІБ / дата"},
    "en": {"slip": "Packing slip", "order": "Order", "seller": "Seller", "sku": "SKU",
           "name": "Item", "qty": "Qty", "total": "Units in total",
           "thanks": "Thank you for your order, %(name)s!", "thanks_anon": "Thank you for your order!",
           "manifest": "Courier manifest No. %(number)s", "carrier": "Carrier",
           "warehouse": "Warehouse", "closed": "Closed", "tracking": "Tracking number", "weight": "Weight, kg",
           "parcels": "Parcels: %(count)s, total weight: %(weight)s kg",
           "missing": "Not handed over (expected but not scanned): %(count)s",
           "handed": "Handed over (warehouse)", "received": "Received (courier)", "sign": "signature / name / date"},
}


@dataclass(frozen=True)
class SlipLine:
    sku: str
    name: str
    quantity: int


@dataclass(frozen=True)
class PackingSlip:
    order_number: str
    buyer_first_name: str
    seller_name: str
    lines: tuple[SlipLine, ...]
    insert_text: str = ""  # slot a later issue fills with a personal insert


@dataclass(frozen=True)
class ManifestParcel:
    tracking: str
    order_number: str
    weight_g: int


@dataclass(frozen=True)
class ManifestDoc:
    number: str
    carrier: str
    warehouse: str
    closed_at: str
    parcels: tuple[ManifestParcel, ...]
    missing: tuple[str, ...]


def _t(lang: str) -> dict[str, str]:
    return TEXTS.get(lang, TEXTS["en"])


def _p(text: str) -> str:
    """Paragraph markup of plain text: escaped, controls out, line breaks kept."""
    clean = "".join(ch if ch == "\n" or ch >= " " and not "\x7f" <= ch <= "\x9f" else " " for ch in str(text))
    return escape(clean).replace("\n", "<br/>")


def _styles():
    from reportlab.lib.styles import ParagraphStyle

    from qoima.floor.adapters.labels import register_fonts

    regular, bold = register_fonts()
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=16, leading=20, spaceAfter=6),
        "body": ParagraphStyle("body", fontName=regular, fontSize=10, leading=13),
        "cell": ParagraphStyle("cell", fontName=regular, fontSize=9, leading=11),
        "head": ParagraphStyle("head", fontName=bold, fontSize=9, leading=11),
        "big": ParagraphStyle("big", fontName=bold, fontSize=13, leading=17, spaceBefore=10),
    }, regular, bold


def _table(rows, widths, bold: str):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONTNAME", (0, 0), (-1, 0), bold),
    ]))
    return table


def _build(story, title: str) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=title)
    doc.build(story)
    return buf.getvalue()


def _check_slip(s: PackingSlip) -> None:
    if len(s.lines) > MAX_LINES:
        raise ValidationError(f"at most {MAX_LINES} lines", field="lines", code="floor.too_many", max=MAX_LINES)
    for i, line in enumerate(s.lines):
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or not 0 < line.quantity < 2**31:
            raise ValidationError("quantity must be a positive whole number", field=f"lines[{i}].quantity",
                                  code="floor.out_of_range")
    if len(s.insert_text) > 2000:
        raise ValidationError("insert_text must be at most 2000 characters", field="insert_text",
                              code="floor.text_too_long", max=2000)


def packing_slip_pdf(s: PackingSlip, lang: str = "ru") -> bytes:
    """The packing slip that goes into the parcel (A4)."""
    _check_slip(s)
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer

    t = _t(lang)
    st, _, bold = _styles()
    story = [Paragraph(_p(f"{t['slip']} — {t['order']} {s.order_number}"), st["title"]),
             Paragraph(_p(f"{t['seller']}: {s.seller_name}"), st["body"]), Spacer(1, 6 * mm)]
    rows = [[Paragraph(_p(t["sku"]), st["head"]), Paragraph(_p(t["name"]), st["head"]),
             Paragraph(_p(t["qty"]), st["head"])]]
    for line in s.lines:
        rows.append([Paragraph(_p(line.sku), st["cell"]), Paragraph(_p(line.name), st["cell"]),
                     Paragraph(str(line.quantity), st["cell"])])
    rows.append(["", Paragraph(_p(t["total"]), st["head"]),
                 Paragraph(str(sum(line.quantity for line in s.lines)), st["head"])])
    story.append(_table(rows, [40 * mm, 115 * mm, 25 * mm], bold))
    name = s.buyer_first_name.strip()
    thanks = t["thanks"] % {"name": name} if name else t["thanks_anon"]
    story.append(Paragraph(_p(thanks), st["big"]))
    if s.insert_text.strip():
        story += [Spacer(1, 4 * mm), Paragraph(_p(s.insert_text), st["body"])]
    return _build(story, f"{t['slip']} {s.order_number}")


def manifest_pdf(m: ManifestDoc, lang: str = "ru") -> bytes:
    """The courier manifest (A4): parcels, total, missing parcels, signatures."""
    if len(m.parcels) > MAX_PARCELS:
        raise ValidationError(f"at most {MAX_PARCELS} parcels", field="parcels", code="floor.too_many",
                              max=MAX_PARCELS)
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer, Table

    from qoima.floor.adapters.labels import kg

    t = _t(lang)
    st, _, bold = _styles()
    story = [Paragraph(_p(t["manifest"] % {"number": m.number}), st["title"]),
             Paragraph(_p(f"{t['carrier']}: {m.carrier}"), st["body"]),
             Paragraph(_p(f"{t['warehouse']}: {m.warehouse}"), st["body"]),
             Paragraph(_p(f"{t['closed']}: {m.closed_at}"), st["body"])]
    if m.number and all(" " <= ch <= "~" for ch in m.number) and len(m.number) <= 40:
        story += [Spacer(1, 3 * mm), Code128(m.number, barHeight=12 * mm, barWidth=0.4 * mm, humanReadable=True)]
    story.append(Spacer(1, 5 * mm))
    rows = [[Paragraph("№", st["head"]), Paragraph(_p(t["tracking"]), st["head"]),
             Paragraph(_p(t["order"]), st["head"]), Paragraph(_p(t["weight"]), st["head"])]]
    for i, p in enumerate(m.parcels, 1):
        rows.append([str(i), Paragraph(_p(p.tracking), st["cell"]), Paragraph(_p(p.order_number), st["cell"]),
                     kg(int(p.weight_g))])
    story.append(_table(rows, [12 * mm, 70 * mm, 65 * mm, 33 * mm], bold))
    total = sum(int(p.weight_g) for p in m.parcels)
    story.append(Paragraph(_p(t["parcels"] % {"count": len(m.parcels), "weight": kg(total)}), st["big"]))
    if m.missing:
        story.append(Paragraph(_p(t["missing"] % {"count": len(m.missing)}), st["big"]))
        story.append(Paragraph(_p(", ".join(m.missing)), st["body"]))
    story.append(Spacer(1, 15 * mm))
    sig = Table([[Paragraph(_p(t["handed"]), st["body"]), "", Paragraph(_p(t["received"]), st["body"])],
                 ["_" * 34, "", "_" * 34],
                 [Paragraph(_p(t["sign"]), st["cell"]), "", Paragraph(_p(t["sign"]), st["cell"])]],
                colWidths=[80 * mm, 20 * mm, 80 * mm])
    story.append(sig)
    return _build(story, t["manifest"] % {"number": m.number})
