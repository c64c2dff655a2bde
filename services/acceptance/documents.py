"""Printable documents: acceptance receipt with QR (受理回执), one-time notice (一次性告知书), refusal (不予受理通知书)."""

import io
from html import escape
from typing import Any

import segno

from services.acceptance.models import Application

_STYLE = (
    "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:720px;margin:2em auto;}"
    "h1{text-align:center;font-size:1.4em}table{border-collapse:collapse;width:100%}"
    "td,th{border:1px solid #444;padding:4px 8px;text-align:left}.qr{float:right}"
    "@media print{.noprint{display:none}}"
)


def qr_svg(data: str) -> str:
    """An SVG QR code of ``data`` (error correction M)."""
    out = io.BytesIO()
    segno.make_qr(data, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}"
        '<p class="noprint"><button onclick="window.print()">打印</button></p></body></html>'
    )


def receipt_html(receipt: dict[str, Any]) -> str:
    """The receipt with its tracking QR code inline."""
    rows = "".join(
        f"<tr><td>{escape(i['matter_name'])}</td><td>{escape(i['department'])}</td>"
        f"<td>{escape(i['promised_date'] or '')}</td></tr>"
        for i in receipt["items"]
    )
    committed = [
        f"{escape(', '.join(i['commitment']['materials']))}（{escape(i['matter_name'])}，{escape(i['commitment']['deadline'])}前补交）"
        for i in receipt["items"] if i["commitment"]
    ]
    commitment = f"<p>容缺承诺：{'；'.join(committed)}</p>" if committed else ""
    provisional = (
        f"<p>注：{'、'.join(str(y) for y in receipt['provisional_years'])}年放假安排尚未公布，上述日期暂按法定节假日"
        "计算，如有调整以国务院公布的放假安排为准。</p>"
        if receipt.get("due_dates_provisional")
        else ""
    )
    body = (
        f'<div class="qr">{qr_svg(receipt["tracking_url"])}</div>'
        f"<h1>受理回执</h1><p>受理编号：{escape(receipt['application_no'] or '')}</p>"
        f"<p>申请事项：{escape(receipt['title'])}</p>"
        f"<p>申请人：{escape(receipt['applicant']['name'])}（{escape(receipt['applicant']['id_number'] or '')}）</p>"
        f"<p>受理大厅：{escape(receipt['hall'])}　取件大厅：{escape(receipt['collect_hall'])}</p>"
        f"<p>受理时间：{escape(receipt['accepted_at'] or '')}　承诺办结日期：{escape(receipt['promised_date'] or '')}</p>"
        f"<table><tr><th>事项</th><th>承办部门</th><th>承诺办结</th></tr>{rows}</table>{commitment}{provisional}"
        f"<p>扫描二维码或凭查询码查询办理进度：{escape(receipt['tracking_code'] or '')}</p>"
    )
    return _page("受理回执", body)


def notice_html(app: Application) -> str:
    """The one-time notice: every missing material at once."""
    notice = app.notice or {}
    rows = "".join(
        f"<tr><td>{escape(m['name'])}</td><td>{escape(m['code'])}</td><td>{escape('、'.join(m['matters']))}</td>"
        f"<td>{'可容缺承诺' if m['may_commit'] else '须补齐'}</td></tr>"
        for m in notice.get("materials", [])
    )
    body = (
        f"<h1>一次性告知书</h1><p>编号：{escape(notice.get('notice_no', ''))}</p>"
        f"<p>申请人：{escape(app.applicant_name)}　申请事项：{escape(app.title)}</p>"
        "<p>您申请的事项材料不齐全，现一次性告知需补齐的全部材料如下：</p>"
        f"<table><tr><th>材料</th><th>编码</th><th>所需事项</th><th>说明</th></tr>{rows}</table>"
        f"<p>告知大厅：{escape(app.hall)}　告知时间：{escape(notice.get('issued_at', ''))}</p>"
    )
    return _page("一次性告知书", body)


def refusal_html(app: Application) -> str:
    """The refusal notice with the reason."""
    body = (
        "<h1>不予受理通知书</h1>"
        f"<p>申请人：{escape(app.applicant_name)}　申请事项：{escape(app.title)}</p>"
        f"<p>不予受理理由：{escape(app.refusal_reason or '')}</p>"
        f"<p>大厅：{escape(app.hall)}　时间：{escape(app.refused_at.isoformat() if app.refused_at else '')}</p>"
        "<p>如对本决定有异议，可依法申请行政复议或提起行政诉讼。</p>"
    )
    return _page("不予受理通知书", body)
