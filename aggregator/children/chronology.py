"""A child's chronology as a document to take to a strategy discussion (CSV or PDF).

Why a separate document: a meeting works from paper or a shared file, not from the
dashboard. It is one row per concern and per hub action, oldest first, carrying what
a practitioner needs to act (who to call, on what lawful basis it was shared). An
export is a disclosure, so it is audited with its purpose and the named recipient.
"""

import csv
import io
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import Actor
from aggregator.children.models import Child
from aggregator.children.picture import build_picture
from aggregator.children.schemas import Picture, TimelineEntry

Format = Literal["csv", "pdf"]
MARKING = "OFFICIAL-SENSITIVE"
UK = ZoneInfo("Europe/London")
COLUMNS = (
    "date",
    "kind",
    "agency",
    "category",
    "severity",
    "summary",
    "practitioner",
    "contact",
    "sharing basis",
)


@dataclass(frozen=True)
class HubAction:
    """Something the hub did about this child (an alert opened, acknowledged, resolved...)."""

    at: datetime
    action: str
    text: str
    by: str | None = None


# Hub actions live in other packages (alerts today); the composition root passes
# their sources in, so this module imports none of them.
HubActionSource = Callable[[AsyncSession, str], Awaitable[list[HubAction]]]


@dataclass(frozen=True)
class Row:
    when: date
    sort_key: datetime
    kind: str
    agency: str
    category: str
    severity: str
    summary: str
    practitioner: str
    contact: str
    sharing: str

    def cells(self) -> list[str]:
        return [
            self.when.isoformat(),
            self.kind,
            self.agency,
            self.category,
            self.severity,
            self.summary,
            self.practitioner,
            self.contact,
            self.sharing,
        ]


@dataclass(frozen=True)
class Export:
    body: bytes
    media_type: str
    filename: str


def _concern_row(t: TimelineEntry) -> Row:
    p = t.practitioner
    practitioner = p.name if p.withheld else ", ".join(x for x in (p.name, p.role) if x)
    contact = "" if p.withheld else " / ".join(x for x in (p.email, p.phone) if x)
    s = t.sharing
    sharing = f"{s.lawful_basis}; {s.condition}; consent: {s.consent}"
    sharing += "; family informed" if s.family_informed else "; family not informed"
    return Row(
        when=t.date,
        sort_key=datetime.combine(t.date, datetime.min.time(), UTC),
        kind="concern",
        agency=t.agency.name,
        category=t.category.replace("_", " "),
        severity=str(t.severity),
        summary=t.summary,
        practitioner=practitioner,
        contact=contact,
        sharing=sharing,
    )


def _action_row(a: HubAction) -> Row:
    at = a.at if a.at.tzinfo else a.at.replace(tzinfo=UTC)
    return Row(
        when=at.astimezone(UK).date(),
        sort_key=at,
        kind="hub action",
        agency="hub",
        category=a.action.replace("_", " "),
        severity="",
        summary=a.text,
        practitioner=a.by or "",
        contact="",
        sharing="",
    )


def chronology_rows(picture: Picture, actions: Sequence[HubAction]) -> list[Row]:
    """Concerns by the date observed and hub actions by when they happened, oldest first."""
    rows = [_concern_row(t) for t in picture.timeline] + [_action_row(a) for a in actions]
    return sorted(rows, key=lambda r: (r.sort_key, r.kind))


def _safe_cell(value: str) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula: never from here."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(rows: Sequence[Row]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_safe_cell(c) for c in row.cells()])
    return out.getvalue().encode("utf-8-sig")  # Excel reads UTF-8 only with the BOM


_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/truetype/liberation"),
)
_FONT_FILES = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
)


def _unicode_font() -> tuple[Path, Path] | None:
    for folder, (regular, bold) in zip(_FONT_DIRS, _FONT_FILES, strict=True):
        if (folder / regular).is_file() and (folder / bold).is_file():
            return folder / regular, folder / bold
    return None


class _ChronologyPDF(FPDF):
    """Every page carries the child, the protective marking and who exported it."""

    def __init__(self, heading: str, footer: str, unicode_font: bool) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.heading = heading
        self.footer_text = footer
        self.font_name = "Body" if unicode_font else "Helvetica"

    def text_of(self, value: str) -> str:
        if self.font_name == "Body":
            return value
        # The core fonts have Latin-1 only: keep letters, drop their accents.
        plain = unicodedata.normalize("NFKD", value)
        return plain.encode("latin-1", "ignore").decode("latin-1")

    def header(self) -> None:
        self.set_font(self.font_name, "B", 11)
        self.cell(0, 6, MARKING, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.font_name, "B", 12)
        self.cell(0, 7, self.text_of(self.heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.font_name, "", 8)
        self.cell(0, 4, MARKING, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(
            0, 4, self.text_of(f"{self.footer_text} - page {self.page_no()} of {{nb}}"), align="C"
        )


def to_pdf(rows: Sequence[Row], heading: str, footer: str) -> bytes:
    font = _unicode_font()
    pdf = _ChronologyPDF(heading, footer, unicode_font=font is not None)
    if font is not None:
        pdf.add_font("Body", "", str(font[0]))
        pdf.add_font("Body", "B", str(font[1]))
    pdf.alias_nb_pages()
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font(pdf.font_name, "", 8)
    widths = (20, 18, 30, 26, 12, 80, 32, 36, 23)
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=4, repeat_headings=1) as table:
        table.row(list(COLUMNS))
        for r in rows:
            table.row([pdf.text_of(c) for c in r.cells()])
    if not rows:
        pdf.cell(0, 8, "No concerns or hub actions are recorded for this child.")
    return bytes(pdf.output())


def _heading(picture: Picture) -> str:
    ident = picture.identity
    name = " ".join(p for p in (ident.given_name, ident.family_name) if p) or "Child"
    born = f", born {ident.date_of_birth}" if ident.date_of_birth else ""
    return f"Chronology: {name}{born}"


async def export_chronology(
    session: AsyncSession,
    child: Child,
    viewer: Actor,
    *,
    fmt: Format,
    recipient: str,
    purpose: str,
    sources: Sequence[HubActionSource],
    via: str,
    now: datetime | None = None,
) -> Export:
    """Build the document and record the disclosure in the same unit of work."""
    now = now or datetime.now(UTC)
    picture = await build_picture(session, child, child.id, viewer)
    actions: list[HubAction] = []
    for source in sources:
        actions.extend(await source(session, child.id))
    rows = chronology_rows(picture, actions)
    record(
        session,
        viewer,
        AuditEntry(
            action="child.chronology_export",
            purpose=purpose,
            object_type="child",
            object_id=child.id,
            detail={
                "format": fmt,
                "recipient": recipient,
                "rows": len(rows),
                "concern_ids": [t.concern_id for t in picture.timeline],
                "via": via,
            },
        ),
    )
    stamp = now.astimezone(UK).strftime("%d %b %Y %H:%M %Z")
    filename = f"chronology-{child.id}-{now.astimezone(UK):%Y%m%d}.{fmt}"
    if fmt == "csv":
        return Export(to_csv(rows), "text/csv; charset=utf-8", filename)
    footer = f"Exported by {viewer.name} on {stamp} for {recipient}"
    body = to_pdf(rows, _heading(picture), footer)
    return Export(body, "application/pdf", filename)
