#!/usr/bin/env python3
"""Stamps docs/argocd/prelude.lua into each Argo CD health check (docs/argocd/health-*.lua).

Argo CD takes one self-contained script per kind, so the kstatus part the three share is kept in
prelude.lua and copied between each script's `-- BEGIN prelude` and `-- END prelude` lines.
tests/argocd.rs fails when a copy is stale; after running this, regenerate argocd-cm.yaml with
`SCIM_OPERATOR_BLESS=1 cargo test --test argocd argocd_cm`.
"""
import pathlib
import re

DIR = pathlib.Path(__file__).resolve().parent.parent / "docs/argocd"
BLOCK = re.compile(r"(^-- BEGIN prelude[^\n]*\n).*?(^-- END prelude$)", re.S | re.M)


def main():
    prelude = (DIR / "prelude.lua").read_text()
    for script in sorted(DIR.glob("health-*.lua")):
        text = script.read_text()
        stamped, n = BLOCK.subn(lambda m: m.group(1) + prelude + m.group(2), text)
        if n != 1:
            raise SystemExit(f"{script}: expected one BEGIN/END prelude block, found {n}")
        if stamped != text:
            script.write_text(stamped)
            print(f"stamped {script.name}")


if __name__ == "__main__":
    main()
