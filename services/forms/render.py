"""Printable application form (表单自动套打): print-ready HTML, every field in template order."""

from datetime import date
from html import escape
from typing import Any

from services.forms.catalog import Compiled, Form
from services.forms.prefill import today

_CSS = """
@page { size: A4; margin: 18mm 15mm; }
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", serif; font-size: 11pt; color: #000; }
h1 { font-size: 16pt; text-align: center; margin: 0 0 4mm; }
.meta { text-align: center; font-size: 9pt; margin-bottom: 5mm; }
table { width: 100%; border-collapse: collapse; margin-bottom: 5mm; }
th, td { border: 1px solid #000; padding: 2mm; vertical-align: top; text-align: left; }
th { width: 32%; font-weight: normal; background: #f2f2f2; }
.src { font-size: 8pt; color: #444; }
.sign { margin-top: 12mm; display: flex; justify-content: space-between; }
"""


def _text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def render_html(
    cat: Compiled, form: Form, filled: dict[str, Any], *, application_ref: str | None, on: date | None = None
) -> str:
    """The filled form as a print-ready HTML page (everything escaped), dated ``on`` (default: today in the
    halls' time zone, not the server's: a form printed at 07:30 in Zhongshan on a UTC server is today's)."""
    department = cat.departments.get(form.department, form.department)
    rows = []
    for f in filled["fields"]:
        mark = " ✓" if f["verified"] else ""
        rows.append(
            f"<tr><th>{escape(f['label_zh'])}{'<span>*</span>' if f['required'] else ''}</th>"
            f"<td data-key=\"{escape(f['key'])}\">{escape(_text(f['value']))}"
            f"<span class=\"src\">{escape(mark)}</span></td></tr>"
        )
    materials = [
        f"<tr><th>{escape(m['name'])}</th><td>"
        + (
            f"☑ 已由电子证照 {escape(m['licence_no'] or '')} 核验，免于提交"
            if m["satisfied"]
            else "☐ 须提交" + ("（可容缺）" if m["tolerable_missing"] else "")
        )
        + "</td></tr>"
        for m in filled["materials"]
    ]
    ref = f" · 申请编号 {escape(application_ref)}" if application_ref else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(form.name)} 申请表</title>
<style>{_CSS}</style></head>
<body>
<h1>{escape(form.name)}申请表</h1>
<div class="meta">{escape(department)} · 事项编码 {escape(form.code)} · 目录版本 {cat.version}{ref}</div>
<table class="fields">
{chr(10).join(rows)}
</table>
<h2 style="font-size:12pt">申请材料</h2>
<table class="materials">
{chr(10).join(materials)}
</table>
<p>本人承诺以上填报内容真实、准确、完整，如有不实，愿承担相应法律责任。</p>
<div class="sign"><span>申请人（签字/盖章）：__________________</span><span>日期：{(on or today()).isoformat()}</span></div>
</body></html>
"""
