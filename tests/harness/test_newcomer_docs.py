"""What the README promises a newcomer about the tooling matches the repository."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_troubleshooting_line_names_the_installer_hatch_uses() -> None:
    config = tomllib.loads((REPO / "hatch.toml").read_text())
    installers = {env.get("installer", "pip") for env in config["envs"].values()}
    readme = (REPO / "README.md").read_text()
    if "uv" in installers:
        # uv ignores pip's CA settings: the README must say which variable it needs.
        assert 'installer = "uv"' in readme and "SSL_CERT_FILE" in readme
    else:
        assert "uv" not in readme.split("**Troubleshooting.**")[1].split("\n\n")[0]
