"""Every list of a demo run as a person sees it: each workbook printed to PDF by
LibreOffice headless, each page a PNG (outside `make test`: it takes a minute or two).

    python -m bench.render_lists --out /tmp/listor [--as-of 2026-11-20] [--profile small]

Needs `soffice` and `pdftoppm` (`apt-get install -y libreoffice-calc poppler-utils`).
Generates a small municipality, runs the nightly job once, opens the sealed lists with
the officer's key, and writes `<out>/png/<role>__<list>-<page>.png`; prints the files.
The demo data is synthetic; the pictures hold synthetic names only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

from bench import scenarios


def render(xlsx: Path, png_dir: Path, stem: str, dpi: int) -> list[Path]:
    """Print one workbook (all sheets) to PDF with LibreOffice, then every page to PNG."""
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "lo-profile"  # its own profile: no clash with a running office
        subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless",
                        "--convert-to", "pdf", "--outdir", tmp, str(xlsx)],
                       check=True, capture_output=True, timeout=300)
        pdf = Path(tmp) / f"{xlsx.stem}.pdf"
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(png_dir / stem)],
                       check=True, capture_output=True, timeout=300)
    return sorted(png_dir.glob(f"{stem}-*.png"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 20))
    ap.add_argument("--profile", default="small", help="small (default), ange or stockholm")
    ap.add_argument("--dpi", type=int, default=70)
    ap.add_argument("--keep", action="store_true",
                    help="run the night again on the data dir of an earlier call")
    args = ap.parse_args(argv)
    for tool in ("soffice", "pdftoppm"):
        if shutil.which(tool) is None:
            print(f"{tool} saknas: apt-get install -y libreoffice-calc poppler-utils",
                  file=sys.stderr)
            return 2
    out = args.out.resolve()
    os.environ.setdefault("DAGSTER_HOME", str(out / "dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    from skyddsnat.generate.profiles import TINY

    # "small": the end-to-end test's town, every kind of list and anomaly in a few rows
    profile = (replace(TINY, name="small", inhabitants=600, children=220, own_school_units=3)
               if args.profile == "small" else args.profile)
    scenarios.generate(profile, out / "gen", args.as_of, seed=7)
    keys = scenarios.ensure_keys(out / "keys")
    data = (out / "data" if args.keep and (out / "data").exists()
            else scenarios.work_dir(out / "gen", out / "data"))

    from pipelines.runner import run_nightly
    from skyddsnat.lists.restricted import unseal_file
    from skyddsnat.privacy.keys import load_officer_private

    outcome = run_nightly(data, keys, args.as_of)
    if not outcome.success:
        print("\n".join(outcome.failures), file=sys.stderr)
        return 1
    delivery = (data / "outbox" / args.as_of.isoformat()).resolve()
    opened = out / "oppnade"
    shutil.rmtree(opened, ignore_errors=True)
    officer = load_officer_private(out / "officer.key")
    for sealed in sorted(delivery.glob("restricted/*.sealed")):
        unseal_file(sealed, officer, opened / sealed.stem)
    png_dir = out / "png"
    shutil.rmtree(png_dir, ignore_errors=True)
    png_dir.mkdir(parents=True)
    workbooks = [(p, f"{p.parent.name}__{p.stem}") for p in sorted(delivery.rglob("*.xlsx"))]
    workbooks += [(p, f"skyddsbehorig__{p.stem}") for p in sorted(opened.rglob("*.xlsx"))]
    for xlsx, stem in workbooks:
        for png in render(xlsx, png_dir, stem, args.dpi):
            print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
