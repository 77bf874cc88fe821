"""Inline-SVG chart helpers: valid SVG, one shape per datum, labels escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from markupsafe import Markup

from qoima.entrypoints.web.charts import bar_chart, heatmap, line_chart, nice_ticks

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg) -> ET.Element:
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")
    return root


def of_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{{NS['s']}}}{tag}") if cls in (e.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter(f"{{{NS['s']}}}text")]


# --- bar chart -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("horizontal", [False, True])
def test_bar_chart_one_bar_per_value(horizontal):
    root = parse(bar_chart(["a", "b", "c", "d"], [3, 0, 7.5, 1], horizontal=horizontal, title="Orders"))
    bars = of_class(root, "rect", "bar")
    assert len(bars) == 4
    sizes = [float(b.get("width" if horizontal else "height")) for b in bars]
    assert sizes[2] == max(sizes) and sizes[1] == 0
    assert "Orders" in texts(root) and "7.5" in texts(root)


def test_bar_chart_escapes_labels():
    evil = '<script>alert("x")</script> & Co'
    svg = bar_chart([evil, "ok"], [1, 2], title="<b>t</b>")
    assert "<script>" not in svg and "<b>" not in svg
    root = parse(svg)
    assert evil in texts(root)
    assert "<b>t</b>" in texts(root)


def test_bar_chart_colors_negative_and_format():
    root = parse(bar_chart(["up", "down"], [5, -3], colors=["#111111", "#222222"], value_fmt=lambda v: f"{v:+.0f}"))
    bars = of_class(root, "rect", "bar")
    assert [b.get("fill") for b in bars] == ["#111111", "#222222"]
    assert "+5" in texts(root) and "-3" in texts(root)
    zero_line = of_class(root, "line", "axis")[0]
    assert float(bars[1].get("y")) == pytest.approx(float(zero_line.get("y1")), abs=0.2)


def test_bar_chart_long_labels_rotate_and_empty_chart():
    root = parse(bar_chart([f"a rather long label {i}" for i in range(12)], list(range(12))))
    assert any("rotate" in (e.get("transform") or "") for e in of_class(root, "text", "label"))
    assert of_class(parse(bar_chart([], [])), "rect", "bar") == []
    with pytest.raises(ValueError):
        bar_chart(["a"], [1, 2])


# --- line chart ------------------------------------------------------------------------------------------------

def test_line_chart_series_bands_axes_legend():
    x = list(range(1, 11))
    series = {"same-day": [10 + i for i in x], "late": [20 - i for i in x]}
    bands = {"same-day": ([9 + i for i in x], [11 + i for i in x])}
    root = parse(line_chart(x, series, bands=bands, title="Days to next order", x_label="week", y_label="days"))
    assert len(of_class(root, "path", "line")) == 2
    assert len(of_class(root, "path", "band")) == 1
    assert len(of_class(root, "circle", "point")) == 20
    assert len(of_class(root, "text", "ytick")) >= 3 and len(of_class(root, "text", "xtick")) >= 3
    legend = of_class(root, "g", "legend")
    assert legend and {"same-day", "late"} <= set(texts(legend[0]))
    assert {"week", "days", "Days to next order"} <= set(texts(root))


def test_line_chart_gaps_dates_and_fixed_range():
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(6)]
    root = parse(line_chart(days, {"rate": [0.5, 0.6, None, None, 0.7, 0.8]}, y_min=0, y_max=1,
                            y_fmt=lambda v: f"{v:.0%}"))
    assert len(of_class(root, "path", "line")) == 2  # None breaks the line
    assert not of_class(root, "g", "legend")  # one series, no band: no legend
    ticks = texts(root)
    assert "0%" in ticks and "100%" in ticks and "2024-01-01" in ticks


def test_line_chart_categories_and_band_gaps():
    root = parse(line_chart(["Q1", "Q2", "Q3", "Q4"], {"a": [1, 2, 3, 4]},
                            bands={"a": ([0.5, None, 2.5, 3.5], [1.5, None, 3.5, 4.5])}))
    assert len(of_class(root, "path", "band")) == 2
    assert {"Q1", "Q4"} <= set(texts(root))


def test_line_chart_escapes_and_validates():
    svg = line_chart([1, 2], {"<i>s</i>": [1, 2]}, bands={"<i>s</i>": ([0, 1], [2, 3])})
    assert "<i>" not in svg
    assert "<i>s</i>" in texts(parse(svg))
    with pytest.raises(ValueError):
        line_chart([1, 2, 3], {"a": [1, 2]})
    with pytest.raises(ValueError):
        line_chart([1, 2], {"a": [1, 2]}, bands={"a": ([1], [2])})


# --- heatmap ---------------------------------------------------------------------------------------------------

def test_heatmap_cells_values_and_blanks():
    rows, cols = ["2024-01", "2024-02", "2024-03"], ["M0", "M1", "M2", "M3"]
    matrix = [[1.0, 0.4, 0.3, 0.25], [1.0, 0.5, None, None], [1.0, None, None, None]]
    root = parse(heatmap(rows, cols, matrix, fmt="{:.0%}", title="Cohorts"))
    cells = of_class(root, "rect", "cell")
    assert len(cells) == 12
    assert len([c for c in cells if "empty" in c.get("class")]) == 5
    values = [e.text for e in of_class(root, "text", "cell-value")]
    assert len(values) == 7 and values[:2] == ["100%", "40%"]
    filled = [c.get("fill") for c in cells if "empty" not in c.get("class")]
    assert filled[0] != filled[2]  # colored by value
    assert set(rows + cols) <= set(texts(root))


def test_heatmap_escapes_and_callable_format():
    svg = heatmap(["<r>"], ['"c" & d'], [[3]], fmt=lambda v: f"<{v}>")
    assert "<r>" not in svg and "<3>" not in svg
    root = parse(svg)
    assert {"<r>", '"c" & d', "<3>"} <= set(texts(root))
    with pytest.raises(ValueError):
        heatmap(["a", "b"], ["x"], [[1]])


def test_nice_ticks():
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    t = nice_ticks(3, 3)
    assert t[0] <= 3 <= t[-1]
