"""hwbench roofline: the image files, the roofs chosen and named on their lines, the marks, and the errors."""

from __future__ import annotations

import copy
import itertools
import math
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hwbench import Profile
from hwbench.cli import app
from hwbench.tools.marks import parse_point
from hwbench.tools.plot import draw_roofline
from hwbench.tools.roofs import choose_roofs
from hwbench.tools.validate_report import load_validation_report

pytest.importorskip("matplotlib")
runner = CliRunner()
H100 = Path(__file__).parent / "profiles" / "h100-sxm-full-1.yaml"


@pytest.fixture
def two_profiles(tmp_path, profile_data):
    Profile(profile_data).save(tmp_path / "zen5.yaml")
    other = copy.deepcopy(profile_data)
    other["compute"]["fp64"]["measured_gflops"] = 120.0
    other["memory"]["l2"] = {"theoretical_gbps": None, "measured_gbps": 400.0, "kernel": "l2_read"}
    Profile(other).save(tmp_path / "halved.yaml")
    return tmp_path / "zen5.yaml", tmp_path / "halved.yaml"


def _cpu_with_caches(profile_data: dict) -> dict:
    """The test CPU profile with hand-made cache levels (numbers chosen, not measured)."""
    data = copy.deepcopy(profile_data)
    for level, gbps, theory in (("l1", 900.0, 1100.0), ("l2", 400.0, None), ("l3", 210.0, None)):
        data["memory"][level] = {"theoretical_gbps": theory, "measured_gbps": gbps, "kernel": "cache_triad"}
    return data


def _sweep(precision: str, level: str, peak: float, bandwidth: float) -> dict:
    """A hand-made intensity-sweep curve in the issue-12 format: 8 points at 92% of min(peak, AI x bandwidth)."""
    points = []
    for k in (1, 2, 4, 8, 16, 32, 64, 128):
        intensity = 2 * k / 16
        roof = min(peak, intensity * bandwidth)
        points.append({"flops_per_element": 2 * k, "flops_per_byte": intensity, "gflops": 0.92 * roof,
                       "roofline_gflops": roof, "error_pct": -8.0})
    return {"kernel": f"intensity_{precision}", "precision": precision, "level": level,
            "working_set_bytes": 1 << 28, "bytes_per_element": 16, "points": points, "median_abs_error_pct": 8.0}


REPORT = {
    "hwbench_validation": 1, "hwbench_version": "0.2.0", "created_at": "2026-11-23T12:00:00+00:00",
    "device": {"id": "cpu", "name": "AMD EPYC 9555"}, "profile": "zen5.yaml",
    "workloads": [
        {"name": "matmul_2048", "precision": "fp64", "level": "dram", "intensity": 170.6, "measured_gflops": 150.0,
         "error_pct": {"calibrated": 16.7, "theoretical": -4.5}, "excluded": None},
        {"name": "triad", "precision": "fp64", "level": "dram", "intensity": 0.0833, "measured_gflops": 3.9,
         "error_pct": {"calibrated": -9.0, "theoretical": -30.0}, "excluded": None},
        {"name": "matmul_256", "precision": "fp64", "level": "dram", "intensity": 21.3, "measured_gflops": 20.0,
         "error_pct": {"calibrated": -80.0, "theoretical": -85.0}, "excluded": "launch overhead"},
    ],
    "median_abs_error_pct": {"calibrated": 12.9, "theoretical": 17.3}, "verdict": "calibrated_better",
}


def _labels(figure, prefix: str = "label-") -> dict:
    return {t.get_gid(): t for t in figure.axes[0].texts if (t.get_gid() or "").startswith(prefix)}


def _assert_no_overlap(figure) -> None:
    renderer = figure.canvas.get_renderer()
    boxes = {gid: text.get_window_extent(renderer) for gid, text in _labels(figure).items()}
    assert len(boxes) >= 2
    for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
        assert not box_a.overlaps(box_b), (a, b)
    area = figure.axes[0].get_window_extent(renderer)
    for gid, box in boxes.items():
        assert area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1, gid


def _roof_keys(roofs) -> tuple[list[str], list[str]]:
    return [r.key for r in roofs.compute], [r.key for r in roofs.memory]


# The roofs chosen ---------------------------------------------------------------------------------------------


def test_default_roofs_on_a_cpu(profile_data):
    profile = Profile(_cpu_with_caches(profile_data))
    compute, memory = _roof_keys(choose_roofs([profile], ["cpu"])[0])
    assert (compute, memory) == (["fp32", "fp64"], ["l1", "l2", "l3", "dram"])  # highest and fastest first


def test_default_roofs_on_a_gpu():
    profile = Profile.load(H100)
    compute, memory = _roof_keys(choose_roofs([profile], ["h100"])[0])
    assert set(profile.precisions) > {"fp64", "fp32", "tensor_bf16", "fp16", "tensor_fp16"}  # it has many more
    assert (compute, memory) == (["tensor_bf16", "fp32", "fp64"], ["l2", "dram"])  # no h2d/d2h, no fp16
    assert choose_roofs([profile], ["h100"])[0].memory[1].label == "HBM"  # its name says HBM3


def test_gpu_levels_added_later_are_drawn_by_default():
    data = yaml.safe_load(H100.read_text())
    data["memory"]["shared"] = {"theoretical_gbps": None, "measured_gbps": 30000.0, "kernel": "shared_read"}
    data["memory"]["l1"] = {"theoretical_gbps": None, "measured_gbps": 31000.0, "kernel": "l1_read"}
    _, memory = _roof_keys(choose_roofs([Profile(data)], ["h100"])[0])
    assert memory == ["l1", "shared", "l2", "dram"]


def test_precisions_and_levels_choose_and_all_means_everything(profile_data):
    profile = Profile(_cpu_with_caches(profile_data))
    assert _roof_keys(choose_roofs([profile], ["p"], ["fp64"], ["dram", "l1"])[0]) == (["fp64"], ["l1", "dram"])
    gpu = Profile.load(H100)
    compute, memory = _roof_keys(choose_roofs([gpu], ["h100"], ["all"], ["all"])[0])
    assert set(compute) == set(gpu.precisions) and set(memory) == {"l2", "dram", "h2d", "d2h"}
    assert _roof_keys(choose_roofs([gpu], ["h100"], None, ["hbm"])[0])[1] == ["dram"]  # the name on the chart


# What is drawn ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source, options", [
    ("h100", {}),
    ("h100", {"precisions": ["all"], "levels": ["all"]}),
    ("cpu", {}),
])
def test_every_roof_is_named_on_its_line_and_no_labels_overlap(profile_data, source, options):
    import matplotlib.pyplot as plt

    profile = Profile.load(H100) if source == "h100" else Profile(_cpu_with_caches(profile_data))
    roofs = choose_roofs([profile], ["p"], options.get("precisions"), options.get("levels"))[0]
    figure = draw_roofline([profile], ["p"], [], **options)
    try:
        axes = figure.axes[0]
        scale = 1000.0 if source == "h100" else 1.0
        labels = _labels(figure, "label-roof-")
        assert len(labels) == len(roofs.compute) + len(roofs.memory)  # every roof named, none dropped
        for roof in roofs.compute:  # flat: on the roof's height, upright
            text = labels[f"label-roof-0-compute-{roof.key}"]
            assert text.get_text().startswith(f"{roof.key}  ")
            assert text.get_position()[1] == pytest.approx(roof.measured / scale) and text.get_rotation() == 0
        for roof in roofs.memory:  # diagonal: on the line intensity x bandwidth, at its angle on screen
            text = labels[f"label-roof-0-memory-{roof.key}"]
            assert text.get_text().startswith(f"{roof.label}  ")
            x, y = text.get_position()
            assert y == pytest.approx(x * roof.measured / scale)
            (xa, ya), (xb, yb) = axes.transData.transform([(x, y), (2 * x, 2 * y)])
            assert text.get_rotation() == pytest.approx(math.degrees(math.atan2(yb - ya, xb - xa)), abs=0.01)
            assert 5 < text.get_rotation() < 85
        _assert_no_overlap(figure)
        assert axes.get_legend() is None  # one profile: nothing in a legend
        assert "TFLOP/s" in axes.get_ylabel() if source == "h100" else "GFLOP/s" in axes.get_ylabel()
    finally:
        plt.close(figure)


def test_title_names_the_device_the_date_and_the_version():
    import matplotlib.pyplot as plt

    figure = draw_roofline([Profile.load(H100)], ["h100"], [])
    try:
        assert figure.axes[0].get_title() == ("NVIDIA H100 80GB HBM3 (cuda:0) · measured 2026-11-22 · "
                                              "hwbench 0.1.0")
    finally:
        plt.close(figure)


def test_measured_solid_theoretical_dashed_where_known_and_ridges(profile_data):
    import matplotlib.pyplot as plt

    figure = draw_roofline([Profile(_cpu_with_caches(profile_data))], ["p"], [])
    try:
        lines = {line.get_gid(): line for line in figure.axes[0].lines if line.get_gid()}
        assert lines["roof-0-fp64-measured"].get_linestyle() == "-"
        assert lines["roof-0-fp64-theoretical"].get_linestyle() == "--"
        assert lines["roof-0-fp64-theoretical"].get_alpha() < 1
        assert "roof-0-l1-theoretical" in lines and "roof-0-l2-theoretical" not in lines  # l2 has no paper figure
        assert lines["ridge-0-fp64-measured"].get_xydata()[0] == pytest.approx([240 / 52, 240])  # against DRAM
        assert lines["ridge-0-fp64-theoretical"].get_xydata()[0] == pytest.approx([166.4 / 76.8, 166.4])
    finally:
        plt.close(figure)


def test_sweep_and_validation_marks_from_hand_made_data(tmp_path, profile_data):
    import matplotlib.pyplot as plt

    data = _cpu_with_caches(profile_data)
    data["intensity_sweep"] = [_sweep("fp64", "dram", 240.0, 52.0), _sweep("fp32", "dram", 480.0, 52.0)]
    report_path = tmp_path / "validate.yaml"
    report_path.write_text(yaml.safe_dump(REPORT))
    figure = draw_roofline([Profile(data)], ["p"], [parse_point("gemv:2e9:8e9")],
                           validation=load_validation_report(report_path))
    try:
        lines = {line.get_gid(): line for line in figure.axes[0].lines if line.get_gid()}
        curve = lines["sweep-0-fp64-dram"]
        expected = [v for p in data["intensity_sweep"][0]["points"] for v in (p["flops_per_byte"], p["gflops"])]
        assert curve.get_xydata().ravel().tolist() == pytest.approx(expected)
        assert curve.get_marker() == "o" and curve.get_linewidth() < 1  # small marks, a thin line
        labels = _labels(figure)
        assert labels["label-sweep-0-fp64-dram"].get_text() == "fp64 sweep, DRAM (median |error| 8.0%)"
        assert "label-sweep-0-fp32-dram" in labels  # one label per curve
        assert lines["workload-matmul_2048"].get_xydata()[0] == pytest.approx([170.6, 150.0])
        assert lines["workload-matmul_2048"].get_markerfacecolor() != "white"
        assert lines["workload-matmul_256"].get_markerfacecolor() == "white"  # excluded: hollow
        assert labels["label-workload-matmul_2048"].get_text() == "matmul_2048 +17%"
        assert labels["label-workload-matmul_256"].get_text() == "matmul_256 (excluded)"
        assert labels["label-point-gemv"].get_text().startswith("gemv: ")
        _assert_no_overlap(figure)
    finally:
        plt.close(figure)


def test_a_sweep_of_a_roof_not_drawn_is_not_drawn(profile_data):
    import matplotlib.pyplot as plt

    data = copy.deepcopy(profile_data)
    data["intensity_sweep"] = [_sweep("fp64", "dram", 240.0, 52.0), _sweep("fp32", "dram", 480.0, 52.0)]
    figure = draw_roofline([Profile(data)], ["p"], [], precisions=["fp32"])
    try:
        gids = {line.get_gid() for line in figure.axes[0].lines}
        assert "sweep-0-fp32-dram" in gids and "sweep-0-fp64-dram" not in gids
    finally:
        plt.close(figure)


def test_overlaid_profiles_get_a_small_legend_of_profiles_only(two_profiles):
    import matplotlib.pyplot as plt

    profiles = [Profile.load(path) for path in two_profiles]
    figure = draw_roofline(profiles, ["zen5", "halved"], [])
    try:
        legend = figure.axes[0].get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["zen5", "halved"]
        renderer = figure.canvas.get_renderer()
        legend_box = legend.get_window_extent(renderer)
        for text in _labels(figure).values():
            assert not text.get_window_extent(renderer).overlaps(legend_box)
        _assert_no_overlap(figure)
    finally:
        plt.close(figure)


# The command --------------------------------------------------------------------------------------------------


def test_png_with_overlay_and_points(tmp_path, two_profiles):
    out = tmp_path / "roof.png"
    result = runner.invoke(app, ["roofline", *map(str, two_profiles), "-o", str(out),
                                 "--point", "gemv:2e9:8e9", "--point", "dgemm:4e11:2e9:2.1"])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000


def test_svg_names_the_chosen_roofs_on_their_lines(tmp_path, two_profiles):
    out = tmp_path / "roof.svg"
    result = runner.invoke(app, ["roofline", *map(str, two_profiles), "-o", str(out), "-p", "fp64",
                                 "--point", "stencil:1e9:4e9"])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    for gid in ("label-roof-0-compute-fp64", "label-roof-0-memory-dram", "label-roof-1-memory-l2",
                "label-point-stencil", "roof-0-fp64-theoretical", "ridge-1-fp64-measured"):
        assert f'id="{gid}"' in svg, gid
    assert "fp32" not in svg.split("</metadata>")[-1]  # only the chosen precision


def test_precisions_levels_and_validation_options(tmp_path, profile_data):
    Profile(_cpu_with_caches(profile_data)).save(tmp_path / "cpu.yaml")
    (tmp_path / "validate.yaml").write_text(yaml.safe_dump(REPORT))
    out = tmp_path / "roof.svg"
    result = runner.invoke(app, ["roofline", str(tmp_path / "cpu.yaml"), "-o", str(out), "--precisions", "fp32",
                                 "--levels", "L1,dram", "--validation", str(tmp_path / "validate.yaml")])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    for gid in ("label-roof-0-compute-fp32", "label-roof-0-memory-l1", "label-roof-0-memory-dram",
                "workload-triad", "label-workload-triad"):
        assert f'id="{gid}"' in svg, gid
    for gid in ("label-roof-0-compute-fp64", "label-roof-0-memory-l2", "label-roof-0-memory-l3"):
        assert f'id="{gid}"' not in svg, gid


@pytest.mark.parametrize("args, message", [
    (["-o", "roof.jpg"], "unknown image format 'jpg'"),
    (["-o", "roof.png", "--point", "bad"], "NAME:FLOPS:BYTES"),
    (["-o", "roof.png", "--point", "k:1e9:-1"], "must be positive"),
    (["-o", "roof.png", "-p", "fp16"], "no fp16 compute ceiling"),
    (["-o", "roof.png", "--precisions", "fp64,fp99"], "no fp99 compute ceiling in"),
    (["-o", "roof.png", "--precisions", "fp99"], "choose from fp64, fp32, or all"),
    (["-o", "roof.png", "--levels", "l9"], "--levels: no l9 memory level in"),
    (["-o", "roof.png", "--levels", "l1"], "choose from dram, or all"),
    (["-o", "roof.png", "--levels", ","], "give comma-separated names"),
    (["-o", "/nonexistent/roof.png"], "does not exist"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, monkeypatch, two_profiles, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["roofline", str(two_profiles[0]), *args])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("roof.*"))


def _damaged(report: dict, change) -> str:
    report = copy.deepcopy(report)
    change(report)
    return yaml.safe_dump(report)


@pytest.mark.parametrize("text, message", [
    ("workloads: [", "not valid YAML (line"),
    ("- just a list\n", "not a validation report (no hwbench_validation key)"),
    (_damaged(REPORT, lambda r: r.update(hwbench_validation=99)), "format version 99 is not one this hwbench reads"),
    (_damaged(REPORT, lambda r: r.update(workloads={"a": 1})), "'workloads' is missing or not a list"),
    (_damaged(REPORT, lambda r: r["workloads"][1].update(intensity=-1)),
     "workloads[1] (triad).intensity is -1, not a positive finite number"),
    (_damaged(REPORT, lambda r: r["workloads"][0].pop("measured_gflops")), "measured_gflops is None"),
    (_damaged(REPORT, lambda r: r["workloads"][2].update(name="triad")), "name 'triad' is used twice"),
    (_damaged(REPORT, lambda r: r["workloads"][0].update(excluded=3)), "excluded is 3: give null or a reason"),
    (_damaged(REPORT, lambda r: r["workloads"].append("x")), "workloads[3] is not a mapping"),
    (None, "no such file"),
])
def test_a_damaged_validation_report_exits_2_with_one_line(tmp_path, monkeypatch, two_profiles, text, message):
    monkeypatch.chdir(tmp_path)
    if text is not None:
        (tmp_path / "report.yaml").write_text(text)
    result = runner.invoke(app, ["roofline", str(two_profiles[0]), "-o", "roof.png", "--validation", "report.yaml"])
    assert result.exit_code == 2 and message in result.stderr, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwbench: ") and "hwbench validate -o FILE" in lines[0]
    assert "Traceback" not in result.output and not list(tmp_path.glob("roof.*"))


def test_a_null_intensity_is_recomputed_from_the_counts(tmp_path):
    report = copy.deepcopy(REPORT)
    report["workloads"][1].update(intensity=None, flops=2e6, bytes=24e6)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(report))
    marks = {m.name: m for m in load_validation_report(tmp_path / "r.yaml").workloads}
    assert marks["triad"].intensity == pytest.approx(1 / 12) and marks["matmul_256"].excluded == "launch overhead"


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch, two_profiles):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = runner.invoke(app, ["roofline", str(two_profiles[0]), "-o", str(tmp_path / "r.png")])
    assert result.exit_code == 2 and "pip install 'hwbench[plot]'" in result.stderr


def test_parse_point():
    point = parse_point("triad:2e9:24e9:0.5")
    assert (point.name, point.intensity, point.seconds) == ("triad", pytest.approx(1 / 12), 0.5)
