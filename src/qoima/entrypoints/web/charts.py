"""Server-side charts as inline SVG (no JavaScript, no CDN). Each helper returns
`markupsafe.Markup` ready to drop into a Jinja template (`{{ chart }}`); every
label and title is escaped. The SVG is drawn at its natural size (`width` x
`height` px) and shrinks with a narrower container (viewBox, max-width:100%);
hovering a bar, point or cell shows its value (SVG <title>).

    bar_chart(labels, values, *, horizontal=False, colors=None, value_fmt=None,
              width=640, height=None, title="", max_value=None) -> Markup
        One bar per label (<rect class="bar">). `colors`: one color for all bars
        or a list, one per bar. `value_fmt(v) -> str` formats the value printed
        at the end of each bar (default: `_num`). Negative values go below/left
        of the zero line. `horizontal=True` suits long labels (statuses...).

    line_chart(x, series, *, bands=None, colors=None, x_fmt=None, y_fmt=None,
               width=640, height=300, title="", x_label="", y_label="",
               y_min=None, y_max=None, points=None) -> Markup
        `x`: the shared x values: numbers (linear axis with nice ticks),
        dates / datetimes (time axis) or strings (categories, evenly spaced).
        `series`: {name: [y or None, ...]} one line per series (<path
        class="line">); None breaks the line. `bands`: {name: (lo, hi)} an
        optional confidence band per series (<path class="band">), two lists
        the length of x (None entries leave a gap). Axes with ticks and
        labels, a legend (<g class="legend">) when there is more than one
        series or any band. `y_min`/`y_max` fix the y range (e.g. 0 and 1 for
        rates). `points` draws dots on the data points (default: when <= 40).

    heatmap(row_labels, col_labels, matrix, fmt="{:g}", *, cell_width=56,
            cell_height=30, low="#eff6ff", high="#1d4ed8", vmin=None,
            vmax=None, title="") -> Markup
        matrix[row][col]: a number or None. One <rect class="cell"> per cell,
        colored from `low` to `high` by value, the value written in the cell
        with `fmt` (a format string such as "{:.0%}" or a callable); None
        cells stay blank (class "cell empty", no text).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from markupsafe import Markup, escape

PALETTE = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563"]
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\""
CHAR_W = 6.6  # approximate width of one character at font-size 11


def _num(value: float) -> str:
    """Compact number: 1234 -> '1234', 0.5 -> '0.5', 1234567 -> '1.2M'."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:.1f}M".replace(".0M", "M")
    if a >= 1e4:
        return f"{value / 1e3:.1f}k".replace(".0k", "k")
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}" if a < 1 else f"{value:.1f}"


def _clip(text: str, n: int) -> str:
    """Shorten a label to n characters (the full text stays in the <title> tooltip)."""
    return text if len(text) <= n else text[: max(n - 1, 1)] + "…"


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^n steps)."""
    if lo == hi:
        lo, hi = (lo - 1, hi + 1) if lo != 0 else (0.0, 1.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks, v = [], start
    while v < hi + step * 0.5 and len(ticks) < 50:
        ticks.append(round(v, 10))
        if v >= hi - 1e-9:
            break
        v += step
    return ticks


def _svg(width: float, height: float, kind: str, title: str, body: list[str]) -> Markup:
    label = escape(title)  # no title: the page's heading names the chart (the kind is no text for a reader)
    named = f' role="img" aria-label="{label}"' if title else ""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {_f(width)} {_f(height)}" '
            f'width="{_f(width)}" height="{_f(height)}"{named} {FONT} font-size="11">')
    parts = [head] + ([f"<title>{label}</title>"] if title else [])
    if title:
        parts.append(f'<text class="chart-title" x="0" y="14" font-size="13" font-weight="600" fill="#111827">'
                     f"{escape(title)}</text>")
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))


def _color(colors, i: int) -> str:
    if colors is None:
        return PALETTE[0]
    if isinstance(colors, str):
        return colors
    return colors[i % len(colors)] if colors else PALETTE[0]


# --- bar chart -------------------------------------------------------------------------------------------------

def bar_chart(labels: Sequence, values: Sequence[float], *, horizontal: bool = False, colors=None,
              value_fmt: Callable[[float], str] | None = None, width: int = 640, height: int | None = None,
              title: str = "", max_value: float | None = None) -> Markup:
    if len(labels) != len(values):
        raise ValueError("labels and values must have the same length")
    fmt = value_fmt or _num
    vals = [float(v or 0) for v in values]
    lo = min([0.0, *vals])
    hi = max([0.0, *vals, *([max_value] if max_value is not None else [])])
    ticks = nice_ticks(lo, hi if hi > lo else lo + 1)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    top = 24 if title else 6
    body: list[str] = []
    n = max(len(vals), 1)
    if horizontal:
        max_chars = 32
        left = 10 + CHAR_W * min(max_chars, max([len(str(lb)) for lb in labels] or [4]))
        right = 14 + CHAR_W * max([len(fmt(v)) for v in vals] or [1])
        row = 24
        height = height or int(top + n * row + 26)
        plot_w = width - left - right
        row = (height - top - 26) / n

        def sx(v: float) -> float:
            return left + (v - lo) / (hi - lo) * plot_w
        for t in ticks:
            x = sx(t)
            body.append(f'<line class="grid" x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{_f(height - 22)}" '
                        f'stroke="#e5e7eb"/>')
            body.append(f'<text class="tick" x="{_f(x)}" y="{_f(height - 8)}" text-anchor="middle" fill="#6b7280">'
                        f"{escape(_num(t))}</text>")
        for i, (lb, v) in enumerate(zip(labels, vals)):
            y = top + i * row
            x0, x1 = sorted((sx(0), sx(v)))
            bh = max(row * 0.68, 1)
            by = y + (row - bh) / 2
            body.append(f'<text class="label" x="{_f(left - 6)}" y="{_f(by + bh / 2 + 4)}" text-anchor="end" '
                        f'fill="#374151">{escape(_clip(str(lb), max_chars))}</text>')
            body.append(f'<rect class="bar" x="{_f(x0)}" y="{_f(by)}" width="{_f(max(x1 - x0, 0))}" '
                        f'height="{_f(bh)}" rx="2" fill="{escape(_color(colors, i))}">'
                        f"<title>{escape(str(lb))}: {escape(fmt(v))}</title></rect>")
            tx, anchor = (x1 + 4, "start") if v >= 0 else (x0 - 4, "end")
            body.append(f'<text class="value" x="{_f(tx)}" y="{_f(by + bh / 2 + 4)}" text-anchor="{anchor}" '
                        f'fill="#111827">{escape(fmt(v))}</text>')
        body.append(f'<line class="axis" x1="{_f(sx(0))}" y1="{top}" x2="{_f(sx(0))}" y2="{_f(height - 22)}" '
                    f'stroke="#9ca3af"/>')
        return _svg(width, height, "bar", title, body)

    height = height or 260
    left = 14 + CHAR_W * max(len(_num(t)) for t in ticks)
    slot = (width - left - 8) / n
    max_label = max([len(str(lb)) for lb in labels] or [1])
    rotate = max_label * CHAR_W > slot * 0.95
    label_chars = 24 if rotate else max(int(slot / CHAR_W), 3)
    reach = min(max_label, label_chars) * CHAR_W * 0.71  # how far a rotated label reaches left and down
    if rotate and reach > left + slot / 2:
        left = reach - slot / 2 + 4
        slot = (width - left - 8) / n
    bottom = 20 + (reach if rotate else 0)
    plot_h = height - top - bottom - 14

    def sy(v: float) -> float:
        return top + 14 + (hi - v) / (hi - lo) * plot_h
    for t in ticks:
        y = sy(t)
        body.append(f'<line class="grid" x1="{_f(left)}" y1="{_f(y)}" x2="{_f(width - 4)}" y2="{_f(y)}" stroke="#e5e7eb"/>')
        body.append(f'<text class="tick" x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end" fill="#6b7280">'
                    f"{escape(_num(t))}</text>")
    for i, (lb, v) in enumerate(zip(labels, vals)):
        cx = left + slot * (i + 0.5)
        bw = max(min(slot * 0.7, 60), 1)
        y0, y1 = sorted((sy(0), sy(v)))
        body.append(f'<rect class="bar" x="{_f(cx - bw / 2)}" y="{_f(y0)}" width="{_f(bw)}" height="{_f(y1 - y0)}" '
                    f'rx="2" fill="{escape(_color(colors, i))}"><title>{escape(str(lb))}: {escape(fmt(v))}</title></rect>')
        vy = y0 - 4 if v >= 0 else y1 + 12
        body.append(f'<text class="value" x="{_f(cx)}" y="{_f(vy)}" text-anchor="middle" fill="#111827">'
                    f"{escape(fmt(v))}</text>")
        ly = sy(lo) + 14
        text = escape(_clip(str(lb), label_chars))
        if rotate:
            body.append(f'<text class="label" x="{_f(cx)}" y="{_f(ly)}" text-anchor="end" fill="#374151" '
                        f'transform="rotate(-45 {_f(cx)} {_f(ly)})">{text}</text>')
        else:
            body.append(f'<text class="label" x="{_f(cx)}" y="{_f(ly)}" text-anchor="middle" fill="#374151">{text}</text>')
    body.append(f'<line class="axis" x1="{_f(left)}" y1="{_f(sy(0))}" x2="{_f(width - 4)}" y2="{_f(sy(0))}" '
                f'stroke="#9ca3af"/>')
    return _svg(width, height, "bar", title, body)


# --- line chart ------------------------------------------------------------------------------------------------

def _x_kind(x: Sequence) -> str:
    if x and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
        return "number"
    if x and all(isinstance(v, (date, datetime)) for v in x):
        return "time"
    return "category"


def _x_value(v) -> float:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=UTC).timestamp()
    return float(v)


def _segments(xs: list[float], ys: Sequence) -> list[list[tuple[float, float]]]:
    segs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys):
        if y is None or (isinstance(y, float) and not math.isfinite(y)):
            if segs[-1]:
                segs.append([])
        else:
            segs[-1].append((x, float(y)))
    return [s for s in segs if s]


def line_chart(x: Sequence, series: dict[str, Sequence], *, bands: dict[str, tuple[Sequence, Sequence]] | None = None,
               colors: dict[str, str] | Sequence[str] | None = None, x_fmt: Callable | None = None,
               y_fmt: Callable[[float], str] | None = None, width: int = 640, height: int = 300, title: str = "",
               x_label: str = "", y_label: str = "", y_min: float | None = None, y_max: float | None = None,
               points: bool | None = None) -> Markup:
    bands = bands or {}
    n = len(x)
    for name, ys in series.items():
        if len(ys) != n:
            raise ValueError(f"series '{name}' has {len(ys)} values for {n} x values")
    for name, (lo_, hi_) in bands.items():
        if len(lo_) != n or len(hi_) != n:
            raise ValueError(f"band '{name}' must have {n} low and {n} high values")
    names = list(series)
    color_of = {}
    for i, name in enumerate(names):
        if isinstance(colors, dict) and name in colors:
            color_of[name] = colors[name]
        elif isinstance(colors, (list, tuple)) and colors:
            color_of[name] = colors[i % len(colors)]
        else:
            color_of[name] = PALETTE[i % len(PALETTE)]
    yfmt = y_fmt or _num
    kind = _x_kind(x)
    if kind == "category":
        xs = [float(i) for i in range(n)]
    else:
        xs = [_x_value(v) for v in x]
    all_y = [float(v) for ys in series.values() for v in ys if v is not None and math.isfinite(float(v))]
    all_y += [float(v) for lo_, hi_ in bands.values() for v in (*lo_, *hi_) if v is not None]
    lo = y_min if y_min is not None else (min(all_y) if all_y else 0.0)
    hi = y_max if y_max is not None else (max(all_y) if all_y else 1.0)
    yticks = [t for t in nice_ticks(lo, hi)]
    if y_min is None:
        lo = min(lo, yticks[0])
    if y_max is None:
        hi = max(hi, yticks[-1])
    yticks = [t for t in yticks if lo - 1e-9 <= t <= hi + 1e-9]
    if hi == lo:
        hi = lo + 1

    show_legend = len(names) > 1 or bool(bands)
    top = (24 if title else 8)
    legend_rows: list[list[tuple[str, float]]] = []
    if show_legend:
        row, used = [], 0.0
        for name in names:
            w = 26 + CHAR_W * len(str(name)) + 14
            if row and used + w > width - 10:
                legend_rows.append(row)
                row, used = [], 0.0
            row.append((name, used))
            used += w
        legend_rows.append(row)
        top += 18 * len(legend_rows) + 4
    left = 16 + CHAR_W * max(len(yfmt(t)) for t in yticks) + (16 if y_label else 0)
    bottom = 26 + (16 if x_label else 0)
    right = 16
    plot_w, plot_h = width - left - right, height - top - bottom
    xmin, xmax = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if kind == "category":
        xmin, xmax = -0.5, max(n - 0.5, 0.5)
    if xmax == xmin:
        xmin, xmax = xmin - 1, xmax + 1

    def sx(v: float) -> float:
        return left + (v - xmin) / (xmax - xmin) * plot_w

    def sy(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    body: list[str] = []
    for t in yticks:
        y = sy(t)
        body.append(f'<line class="grid" x1="{_f(left)}" y1="{_f(y)}" x2="{_f(width - right)}" y2="{_f(y)}" '
                    f'stroke="#e5e7eb"/>')
        body.append(f'<text class="tick ytick" x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end" fill="#6b7280">'
                    f"{escape(yfmt(t))}</text>")
    # x ticks
    if kind == "number":
        xt = [(t, t) for t in nice_ticks(xmin, xmax, 6) if xmin - 1e-9 <= t <= xmax + 1e-9]
        fmt_x = x_fmt or _num
    else:
        max_ticks = max(2, int(plot_w // max(CHAR_W * max([len(str(x_fmt(v) if x_fmt else _xdefault(v)))
                                                             for v in x] or [4]) + 12, 1)))
        step = max(1, math.ceil(n / max_ticks))
        xt = [(xs[i], x[i]) for i in range(0, n, step)]
        fmt_x = x_fmt or _xdefault
    for pos, raw in xt:
        px = sx(pos)
        body.append(f'<line class="xgrid" x1="{_f(px)}" y1="{_f(top + plot_h)}" x2="{_f(px)}" y2="{_f(top + plot_h + 4)}" '
                    f'stroke="#9ca3af"/>')
        body.append(f'<text class="tick xtick" x="{_f(px)}" y="{_f(top + plot_h + 16)}" text-anchor="middle" '
                    f'fill="#6b7280">{escape(str(fmt_x(raw)))}</text>')
    body.append(f'<line class="axis" x1="{_f(left)}" y1="{_f(top + plot_h)}" x2="{_f(width - right)}" '
                f'y2="{_f(top + plot_h)}" stroke="#9ca3af"/>')
    body.append(f'<line class="axis" x1="{_f(left)}" y1="{_f(top)}" x2="{_f(left)}" y2="{_f(top + plot_h)}" '
                f'stroke="#9ca3af"/>')
    if x_label:
        body.append(f'<text class="axis-label" x="{_f(left + plot_w / 2)}" y="{_f(height - 4)}" text-anchor="middle" '
                    f'fill="#374151">{escape(x_label)}</text>')
    if y_label:
        yc = top + plot_h / 2
        body.append(f'<text class="axis-label" x="12" y="{_f(yc)}" text-anchor="middle" fill="#374151" '
                    f'transform="rotate(-90 12 {_f(yc)})">{escape(y_label)}</text>')
    # bands first (under the lines)
    for name, (lo_, hi_) in bands.items():
        color = color_of.get(name, PALETTE[len(color_of) % len(PALETTE)])
        seg: list[tuple[float, float, float]] = []
        segs = []
        for px, a, b in zip(xs, lo_, hi_):
            if a is None or b is None:
                if seg:
                    segs.append(seg)
                seg = []
            else:
                seg.append((px, float(a), float(b)))
        if seg:
            segs.append(seg)
        for s in segs:
            upper = [f"{_f(sx(p))},{_f(sy(b))}" for p, _a, b in s]
            lower = [f"{_f(sx(p))},{_f(sy(a))}" for p, a, _b in reversed(s)]
            body.append(f'<path class="band" d="M{" L".join(upper + lower)} Z" fill="{escape(color)}" '
                        f'fill-opacity="0.18" stroke="none"><title>{escape(str(name))}</title></path>')
    draw_points = points if points is not None else n <= 40
    for name in names:
        color = escape(color_of[name])
        for s in _segments(xs, series[name]):
            d = " L".join(f"{_f(sx(px))},{_f(sy(py))}" for px, py in s)
            body.append(f'<path class="line" d="M{d}" fill="none" stroke="{color}" stroke-width="2" '
                        f'stroke-linejoin="round" stroke-linecap="round"><title>{escape(str(name))}</title></path>')
        if draw_points:
            for raw, px, py in zip(x, xs, series[name]):
                if py is None:
                    continue
                body.append(f'<circle class="point" cx="{_f(sx(px))}" cy="{_f(sy(float(py)))}" r="2.5" fill="{color}">'
                            f"<title>{escape(str(name))} — {escape(str(fmt_x(raw)))}: {escape(yfmt(float(py)))}"
                            f"</title></circle>")
    if show_legend:
        base = (24 if title else 8)
        items = ['<g class="legend">']
        for r, row in enumerate(legend_rows):
            y = base + r * 18 + 8
            for name, off in row:
                color = escape(color_of[name])
                items.append(f'<rect x="{_f(off)}" y="{_f(y - 5)}" width="18" height="10" rx="2" fill="{color}" '
                             f'fill-opacity="{0.35 if name in bands else 1}" stroke="{color}"/>'
                             f'<text x="{_f(off + 24)}" y="{_f(y + 4)}" fill="#374151">{escape(str(name))}</text>')
        items.append("</g>")
        body.extend(items)
    return _svg(width, height, "line", title, body)


def _xdefault(v) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M") if (v.hour or v.minute) else v.strftime("%Y-%m-%d")
    if isinstance(v, date):
        return v.isoformat()
    return _num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


# --- heatmap ---------------------------------------------------------------------------------------------------

def _hex(c: str) -> tuple[int, int, int]:
    c = c.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _mix(a: str, b: str, t: float) -> str:
    ra, rb = _hex(a), _hex(b)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ra, rb))


def _luma(c: str) -> float:
    r, g, b = _hex(c)
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255


def heatmap(row_labels: Sequence, col_labels: Sequence, matrix: Sequence[Sequence], fmt: str | Callable = "{:g}", *,
            cell_width: int = 56, cell_height: int = 30, low: str = "#eff6ff", high: str = "#1d4ed8",
            vmin: float | None = None, vmax: float | None = None, title: str = "") -> Markup:
    if len(matrix) != len(row_labels):
        raise ValueError(f"matrix has {len(matrix)} rows for {len(row_labels)} row labels")
    for i, row in enumerate(matrix):
        if len(row) != len(col_labels):
            raise ValueError(f"row {i} has {len(row)} cells for {len(col_labels)} column labels")
    show = fmt.format if isinstance(fmt, str) else fmt
    vals = [float(v) for row in matrix for v in row if v is not None]
    lo = vmin if vmin is not None else (min(vals) if vals else 0.0)
    hi = vmax if vmax is not None else (max(vals) if vals else 1.0)
    span = (hi - lo) or 1.0
    left = 10 + CHAR_W * max([len(str(r)) for r in row_labels] or [1])
    max_col = max([len(str(c)) for c in col_labels] or [1])
    rotate = max_col * CHAR_W > cell_width - 6
    col_h = (min(max_col, 24) * CHAR_W * 0.71 + 12) if rotate else 18
    top = (24 if title else 4) + col_h
    width = left + cell_width * len(col_labels) + 8
    height = top + cell_height * len(row_labels) + 6
    body: list[str] = []
    for j, c in enumerate(col_labels):
        cx = left + cell_width * (j + 0.5)
        text = escape(str(c))
        if rotate:
            y = top - 6
            body.append(f'<text class="col-label" x="{_f(cx)}" y="{_f(y)}" text-anchor="start" fill="#374151" '
                        f'transform="rotate(-45 {_f(cx)} {_f(y)})">{text}</text>')
        else:
            body.append(f'<text class="col-label" x="{_f(cx)}" y="{_f(top - 6)}" text-anchor="middle" '
                        f'fill="#374151">{text}</text>')
    for i, (r, row) in enumerate(zip(row_labels, matrix)):
        y = top + cell_height * i
        body.append(f'<text class="row-label" x="{_f(left - 6)}" y="{_f(y + cell_height / 2 + 4)}" text-anchor="end" '
                    f'fill="#374151">{escape(str(r))}</text>')
        for j, v in enumerate(row):
            x = left + cell_width * j
            if v is None:
                body.append(f'<rect class="cell empty" x="{_f(x + 1)}" y="{_f(y + 1)}" width="{cell_width - 2}" '
                            f'height="{cell_height - 2}" fill="#ffffff" stroke="#f3f4f6"/>')
                continue
            t = min(max((float(v) - lo) / span, 0.0), 1.0)
            fill = _mix(low, high, t)
            label = show(v)
            body.append(f'<rect class="cell" x="{_f(x + 1)}" y="{_f(y + 1)}" width="{cell_width - 2}" '
                        f'height="{cell_height - 2}" rx="2" fill="{fill}"><title>{escape(str(r))} / '
                        f'{escape(str(col_labels[j]))}: {escape(label)}</title></rect>')
            ink = "#ffffff" if _luma(fill) < 0.55 else "#111827"
            body.append(f'<text class="cell-value" x="{_f(x + cell_width / 2)}" y="{_f(y + cell_height / 2 + 4)}" '
                        f'text-anchor="middle" fill="{ink}">{escape(label)}</text>')
    return _svg(width, height, "heatmap", title, body)
