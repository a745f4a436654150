"""hwbench roofline: the image files, application points, and the errors."""

from __future__ import annotations

import copy
import sys

import pytest
from typer.testing import CliRunner

from hwbench import Profile
from hwbench.cli import app
from hwbench.tools.plot import parse_point

pytest.importorskip("matplotlib")
runner = CliRunner()


@pytest.fixture
def two_profiles(tmp_path, profile_data):
    Profile(profile_data).save(tmp_path / "zen5.yaml")
    other = copy.deepcopy(profile_data)
    other["compute"]["fp64"]["measured_gflops"] = 120.0
    other["memory"]["l2"] = {"theoretical_gbps": None, "measured_gbps": 400.0, "kernel": "l2_read"}
    Profile(other).save(tmp_path / "halved.yaml")
    return tmp_path / "zen5.yaml", tmp_path / "halved.yaml"


def test_png_with_overlay_and_points(tmp_path, two_profiles):
    out = tmp_path / "roof.png"
    result = runner.invoke(app, ["roofline", *map(str, two_profiles), "-o", str(out),
                                 "--point", "gemv:2e9:8e9", "--point", "dgemm:4e11:2e9:2.1"])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000


def test_svg_names_every_roof_and_point(tmp_path, two_profiles):
    out = tmp_path / "roof.svg"
    result = runner.invoke(app, ["roofline", *map(str, two_profiles), "-o", str(out), "-p", "fp64",
                                 "--point", "stencil:1e9:4e9"])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    for text in ("zen5 fp64 measured: 240 GFLOP/s, 52 GB/s, ridge 4.62 F/B",
                 "zen5 fp64 theoretical: 166 GFLOP/s, 77 GB/s, ridge 2.17 F/B",
                 "halved l2 measured (400 GB/s)", "stencil"):
        assert text in svg, text
    assert "fp32" not in svg.split("</metadata>")[-1]  # only the chosen precision


@pytest.mark.parametrize("args, message", [
    (["-o", "roof.jpg"], "unknown image format 'jpg'"),
    (["-o", "roof.png", "--point", "bad"], "NAME:FLOPS:BYTES"),
    (["-o", "roof.png", "--point", "k:1e9:-1"], "must be positive"),
    (["-o", "roof.png", "-p", "fp16"], "no fp16 compute ceiling"),
    (["-o", "/nonexistent/roof.png"], "does not exist"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, monkeypatch, two_profiles, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["roofline", str(two_profiles[0]), *args])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not list(tmp_path.glob("roof.*"))


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch, two_profiles):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = runner.invoke(app, ["roofline", str(two_profiles[0]), "-o", str(tmp_path / "r.png")])
    assert result.exit_code == 2 and "pip install 'hwbench[plot]'" in result.stderr


def test_parse_point():
    point = parse_point("triad:2e9:24e9:0.5")
    assert (point.name, point.intensity, point.seconds) == ("triad", pytest.approx(1 / 12), 0.5)
