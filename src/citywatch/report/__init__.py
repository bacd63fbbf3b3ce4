"""The monthly oversight report, rendered: HTML with charts (matplotlib), PDF via Chromium.

The data and its audit entry come from :mod:`citywatch.services.report`; this package only
draws and writes files.
"""

from citywatch.report.render import PdfMode, ReportError, ReportWriter, render_html

__all__ = ["PdfMode", "ReportError", "ReportWriter", "render_html"]
