"""The office's audit in words, for filing: the readable CSV and the PDF report.

The library hands over data (:class:`ledger.audit.Audit`: codes, ids, counts); here it is
worded in the request's language with :mod:`webapp.presentation` and named with
:mod:`webapp.names`, as the office's audit page shows it. The CSV keeps each code in its
own column beside its words, so a spreadsheet can filter on either; the PDF is an A4 report
with the office, the period, the figures, the findings, the integrity result and the
checkpoint on chain, and "page N of M" on every page.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import get_locale
from flask_babel import gettext as _

from ledger.audit import Audit, Finding, Reads, Severity

from ..i18n import format_ms
from ..names import org_name
from ..presentation import finding_detail, finding_name, problem_advice, problem_name, severity_name

#: A CID font PDF readers supply (docs/decisions.md): Chinese prints without shipping a font file.
CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
MAX_PDF_ROWS = 2_000  # findings printed; the CSV holds them all


@dataclass(frozen=True)
class Context:
    """What the report says besides the audit: whose it is, who made it, when, and how the
    people and parts are named (the audit page's names, the checkpoint on chain)."""

    office_id: str
    office_name: str
    generated_by: str
    generated_at: int  # ms
    organisations: set[str]  # the office's organisations: the figures are theirs
    residents: dict[str, str]  # address -> the name the office sees
    codes: dict[str, str]  # org id -> code
    part_name: Callable[[str], str]
    checkpoint: dict[str, Any] | None  # ledger.history.anchored_checkpoint
    department: str | None = None  # the scope's department (code), if any
    resident: str | None = None  # the scope's resident (address), if any


def title() -> str:
    return _("Audit report on access to personal information")


def period(audit: Audit) -> str:
    start, end = audit.scope.start, audit.scope.end
    if start and end:
        return _("%(start)s to %(end)s", start=start.isoformat(), end=end.isoformat())
    if start:
        return _("from %(start)s", start=start.isoformat())
    if end:
        return _("up to %(end)s", end=end.isoformat())
    return _("the whole access log")


def office_reads(audit: Audit, ctx: Context) -> Reads:
    total = Reads()
    for org, reads in audit.reads.items():
        if org in ctx.organisations:
            total = total.add(reads)
    return total


def short_hex(value: str | None, head: int = 10, tail: int = 6) -> str:
    if not value:
        return ""
    return value if len(value) <= head + tail + 1 else f"{value[:head]}…{value[-tail:]}"


# -- the CSV ---------------------------------------------------------------------------------


def csv_header() -> list[str]:
    return [
        _("Finding"), "kind_code", _("Severity"), "severity_code", _("Access No."), _("Time"),
        _("Department"), "department_code", _("Resident"), "resident_address", _("Detail"), "record_id", "grant_id",
    ]  # fmt: skip


def finding_cells(finding: Finding, ctx: Context) -> list[str]:
    return [
        finding_name(finding.kind), str(finding.kind), severity_name(finding.severity), str(finding.severity),
        "" if finding.seq is None else str(finding.seq), format_ms(finding.time),
        org_name(finding.organisation) if finding.organisation else "", ctx.codes.get(finding.organisation or "", ""),
        ctx.residents.get(finding.resident or "", ""), finding.resident or "", finding_detail(finding),
        finding.record_id or "", finding.grant_id or "",
    ]  # fmt: skip


def to_csv(audit: Audit, ctx: Context) -> bytes:
    """The findings, then the integrity check's, in the request's language; UTF-8 with a BOM
    so that Excel reads the Chinese."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_header())
    for finding in audit.findings:
        writer.writerow(finding_cells(finding, ctx))
    if audit.integrity is not None:
        for problem in audit.integrity.findings:
            writer.writerow([
                _("Integrity (%(part)s): %(problem)s", part=ctx.part_name(problem.part),
                  problem=problem_name(problem.code)), str(problem.code),
                severity_name(Severity.HIGH), str(Severity.HIGH), "" if problem.seq is None else str(problem.seq),
                "", "", "", "", "", _("About %(subject)s. %(advice)s", subject=problem.subject,
                                      advice=problem_advice(problem.code)), "", "",
            ])  # fmt: skip
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# -- the PDF ---------------------------------------------------------------------------------


def _markup(text: Any) -> str:
    """Paragraph markup for plain ``text``: escaped (names and details are data, not
    markup), runs of Chinese in the CJK font."""
    return re.sub(r"([^\x00-\u2fff]+)", rf'<font name="{CJK_FONT}">\1</font>', escape(str(text)))


def _numbered_canvas(footer: Callable[[Any, int, int], None]) -> type:
    """A canvas that holds its pages until the end, so each can say how many there are."""
    from reportlab.pdfgen import canvas

    class NumberedCanvas(canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._held: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._held)
            for number, state in enumerate(self._held, start=1):
                self.__dict__.update(state)
                footer(self, number, total)
                super().showPage()
            super().save()

    return NumberedCanvas


def to_pdf(audit: Audit, ctx: Context) -> bytes:
    """The report, A4 portrait, in the request's language."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    chinese = str(get_locale() or "zh").startswith("zh")
    font = CJK_FONT if chinese else LATIN_FONT
    bold = CJK_FONT if chinese else "Helvetica-Bold"
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=colors.HexColor("#444444"))
    cell = ParagraphStyle("cell", parent=body, fontSize=7.5, leading=10)
    head_cell = ParagraphStyle("head", parent=cell, fontName=bold)
    heading = ParagraphStyle("h2", parent=body, fontName=bold, fontSize=12, leading=16, spaceBefore=10, spaceAfter=4)
    big = ParagraphStyle("title", parent=body, fontName=bold, fontSize=17, leading=24, alignment=TA_CENTER)
    sub = ParagraphStyle("subtitle", parent=body, fontSize=11, leading=16, alignment=TA_CENTER)

    def p(text: Any, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(_markup(text), style)

    grid = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#888888")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]  # fmt: skip
    width = A4[0] - 36 * mm

    def pairs(rows: list[tuple[str, Any]]) -> Table:
        """Two columns, a name and its value (text, or a list of flowables)."""
        table = Table([[p(k, cell), v if isinstance(v, list) else p(v, cell)] for k, v in rows],
                      colWidths=[0.38 * width, 0.62 * width])  # fmt: skip
        table.setStyle(TableStyle([*grid, ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f0f0"))]))
        return table

    # -- the heading and the particulars
    story: list[Any] = [p(ctx.office_name, sub), Spacer(1, 2 * mm), p(title(), big), Spacer(1, 6 * mm)]
    particulars: list[tuple[str, Any]] = [(_("Office"), ctx.office_name), (_("Period"), period(audit))]
    if ctx.department:
        org = next((o for o, c in ctx.codes.items() if c == ctx.department), None)
        particulars.append((_("Department"), org_name(org) if org else ctx.department))
    if ctx.resident:
        particulars.append((_("Resident"), ctx.residents.get(ctx.resident, short_hex(ctx.resident))))
    particulars += [
        (_("Generated"), format_ms(ctx.generated_at) + " " + _("(China Standard Time)")),
        (_("Generated by"), ctx.generated_by),
    ]
    story.append(pairs(particulars))

    # -- the figures
    reads = office_reads(audit, ctx)
    severities = Counter(f.severity for f in audit.findings)
    story += [p(_("1. Summary"), heading), pairs([
        (_("Events in the access log checked"), audit.events),
        (_("Accesses by the office's organisations in the period"), reads.allowed + reads.refused),
        (_("Reads allowed in the period"), reads.allowed),
        (_("Reads refused in the period"), reads.refused),
        (_("Emergency reads"), _("%(n)s, of which %(reviewed)s reviewed", n=reads.emergency, reviewed=reads.reviewed)),
        (_("Findings"), _("%(n)s in all: %(high)s high, %(medium)s medium, %(info)s for information",
                          n=len(audit.findings), high=severities[Severity.HIGH], medium=severities[Severity.MEDIUM],
                          info=severities[Severity.INFO])),
    ])]  # fmt: skip

    # -- the findings
    story.append(p(_("2. Findings"), heading))
    if not audit.findings:
        story.append(p(_("No findings in this period: every access had a valid basis.")))
    else:
        fractions = (0.06, 0.15, 0.17, 0.09, 0.14, 0.10, 0.29)
        header = ["#", _("Time"), _("Finding"), _("Severity"), _("Department"), _("Resident"), _("Detail")]
        rows = [[p(h, head_cell) for h in header]]
        for f in audit.findings[:MAX_PDF_ROWS]:
            rows.append([
                p("" if f.seq is None else f.seq, cell), p(format_ms(f.time) or "—", cell), p(finding_name(f.kind), cell),
                p(severity_name(f.severity), cell), p(org_name(f.organisation) if f.organisation else "—", cell),
                p(ctx.residents.get(f.resident or "", "—"), cell), p(finding_detail(f), cell),
            ])  # fmt: skip
        table = Table(rows, repeatRows=1, colWidths=[fr * width for fr in fractions])
        table.setStyle(TableStyle([*grid, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e4e4"))]))
        story.append(table)
        if len(audit.findings) > MAX_PDF_ROWS:
            story.append(
                p(_("%(n)s more findings are in the CSV export.", n=len(audit.findings) - MAX_PDF_ROWS), small)
            )

    # -- integrity and the checkpoint
    section: list[Any] = [p(_("3. Integrity against the chain"), heading)]
    report = audit.integrity
    if report is None:
        section.append(p(_("The database was not checked against the chain for this report. To include the check, "
                           "tick it on the exports page.")))  # fmt: skip
    else:
        if report.ok:
            verdict = _("Intact: the database matches the chain.")
        elif report.findings:
            verdict = _("Problems found: %(n)s. The office must look into them.", n=len(report.findings))
        else:
            verdict = _("The check could not be completed: the chain or a setting was unavailable.")
        section.append(p(verdict))
        parts: list[tuple[str, Any]] = []
        for name in report.parts:
            found = report.of(name)
            if not found:
                parts.append((ctx.part_name(name), _("intact")))
                continue
            words: list[Any] = [p(_("Problems found: %(n)s", n=len(found)), cell)]
            for code, n in sorted(Counter(f.code for f in found).items()):  # ledger.verify.Problem
                words.append(p(f"{problem_name(code)} × {n}", head_cell))
                if advice := problem_advice(code):
                    words.append(p(advice, cell))
            parts.append((ctx.part_name(name), words))
        section.append(Spacer(1, 2 * mm))
        section.append(pairs(parts))
    cp = ctx.checkpoint
    if cp is None:
        section.append(p(_("No checkpoint of the access log is anchored on the chain yet.")))
    else:
        section += [Spacer(1, 2 * mm), p(_("The newest checkpoint of the access log on the chain:")), pairs([
            (_("Entries covered"), cp["size"]),
            (_("Root"), short_hex(cp["root"], 18, 8)),
            (_("Block"), cp["block"] if cp.get("block") is not None else "—"),
            (_("Transaction"), short_hex(cp.get("txHash"), 18, 8) or "—"),
        ])]  # fmt: skip
    story.append(KeepTogether(section))

    # -- how to check it
    story += [p(_("4. How to verify"), heading), p(_(
        "Each access in this report is an entry of the access log, whose checkpoints are anchored on the chain. "
        "The full check of the database against the chain is run with: gridledger verify all. The entries of one "
        "department or one resident can be checked by anyone, without this database: download the bundle from "
        "the exports page and run: gridledger verify bundle FILE.json --rpc-url URL."
    ))]  # fmt: skip

    page_words = _("Page %(page)s of %(pages)s")
    footer_left = f"{ctx.office_name}  |  {title()}  |  {format_ms(ctx.generated_at)}"
    verify_hint = _("Verify: gridledger verify bundle FILE.json --rpc-url URL (bundle from the exports page)")

    def footer(canvas: Any, number: int, total: int) -> None:
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor("#888888"))
        canvas.line(18 * mm, 15 * mm, A4[0] - 18 * mm, 15 * mm)
        canvas.setFont(font, 7.5)
        canvas.setFillColor(colors.HexColor("#444444"))
        _draw(canvas, 18 * mm, 11 * mm, footer_left, font)
        _draw(canvas, 18 * mm, 7.5 * mm, verify_hint, font)
        label = page_words % {"page": number, "pages": total}
        canvas.setFont(CJK_FONT if chinese else LATIN_FONT, 8)
        canvas.drawRightString(A4[0] - 18 * mm, 11 * mm, label)
        canvas.restoreState()

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm, bottomMargin=22 * mm,
        title=f"{title()} — {ctx.office_name}", author=ctx.office_name, subject=period(audit),
    )  # fmt: skip
    document.build(story, canvasmaker=_numbered_canvas(footer))
    return out.getvalue()


def _draw(canvas: Any, x: float, y: float, text: str, font: str) -> None:
    """A footer line: runs of Chinese in the CJK font, the rest in ``font``."""
    for piece in re.split(r"([^\x00-\u2fff]+)", text):
        if not piece:
            continue
        face = CJK_FONT if re.match(r"[^\x00-\u2fff]", piece) else font
        canvas.setFont(face, 7.5)
        canvas.drawString(x, y, piece)
        x += canvas.stringWidth(piece, face, 7.5)
