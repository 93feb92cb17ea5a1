"""The API reference at /docs, loaded in a real browser (headless Chromium).

The page is rendered by keycred from its own spec, so a browser that loads it
offline must find every operation of the served spec on it.
"""

import json
import os
import shutil
import subprocess
import tempfile

import httpx
import pytest


def find_chromium():
    """Chromium from Debian's package; scripts/test.sh installs it."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; scripts/test.sh installs it with apt-get")
    pytest.skip("chromium is not installed (scripts/test.sh installs it)")


def render_in_chromium(url):
    """The DOM of `url` after Chromium loaded it, with the network closed to everything else."""
    chromium = find_chromium()
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_docs_page_shows_every_operation_of_the_served_spec(base_url):
    spec = json.loads(httpx.get(f"{base_url}/openapi.json").text)
    operation_ids = [
        operation["operationId"]
        for path_item in spec["paths"].values()
        for method, operation in path_item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]

    dom = render_in_chromium(f"{base_url}/docs")

    assert "<h1>" in dom and spec["info"]["title"] in dom
    missing = [op for op in operation_ids if f'data-operation-id="{op}"' not in dom]
    assert not missing, f"operations missing from /docs: {missing}"
    for path in spec["paths"]:
        assert path in dom, f"path {path} missing from /docs"


def test_the_docs_page_needs_nothing_from_the_network(base_url):
    html = httpx.get(f"{base_url}/docs").text

    assert "<script" not in html
    assert "src=" not in html
    assert "@import" not in html and "url(" not in html
    assert "fonts.googleapis" not in html


def test_the_served_yaml_is_the_file_the_server_was_built_from(base_url):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "openapi.yaml"), "rb") as spec_file:
        on_disk = spec_file.read()

    served = httpx.get(f"{base_url}/openapi.yaml")

    assert served.status_code == 200
    assert served.content == on_disk


def test_the_served_json_is_the_same_contract(base_url):
    import yaml  # noqa: PLC0415 - only this test needs PyYAML

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "openapi.yaml"), encoding="utf-8") as spec_file:
        expected = yaml.safe_load(spec_file)

    served = httpx.get(f"{base_url}/openapi.json")

    assert served.headers["content-type"].startswith("application/json")
    assert served.json() == expected
