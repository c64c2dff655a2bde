"""The import command loads a catalogue file (the reference file must load), and refuses a broken one."""

import asyncio
import json
import os
import sys
from pathlib import Path

from sqlalchemy import select

from services.forms.models import CatalogVersion

ROOT = Path(__file__).resolve().parent.parent.parent


async def _run(infra, *args: str) -> tuple[int, str, str]:
    env = os.environ | infra.env("FORMS_")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.forms.cli", "import-catalog", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_import_command_loads_and_publishes_the_seed_catalogue(forms, infra, tmp_path) -> None:
    code, out, err = await _run(infra, str(ROOT / "services" / "forms" / "seed" / "demo-catalog.json"), "--publish")
    assert code == 0, err
    version = int(out.split("catalogue version ")[1].split(":")[0])
    assert out.strip().endswith("published")
    async with forms.app.state.runtime.sessionmaker() as session:
        row = (await session.execute(select(CatalogVersion).where(CatalogVersion.version == version))).scalar_one()
    assert row.status == "published" and row.created_by == "cli" and len(row.content["matters"]) == 25

    broken = json.loads((ROOT / "services" / "forms" / "seed" / "demo-catalog.json").read_text(encoding="utf-8"))
    broken["bundles"][0]["matters"].append("NO-SUCH-MATTER")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    code, out, err = await _run(infra, str(path))
    assert code == 2 and "bundles[0].matters[5]: unknown matter 'NO-SUCH-MATTER'" in err
