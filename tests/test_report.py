"""README generation: blocks are filled from recorded results, and --check notices a stale README."""

from __future__ import annotations

import shutil

from conv_workshop.report import generated_blocks, render, update_readmes

from .conftest import ROOT


def test_render_replaces_only_named_blocks():
    text = "a\n<!-- BEGIN x -->\nold\n<!-- END x -->\nb\n<!-- BEGIN y -->\nkeep\n<!-- END y -->\n"
    expected = text.replace("old", "new")
    assert render(text, {"x": "new"}) == expected


def test_blocks_come_from_the_recorded_results():
    blocks = generated_blocks("en")
    assert "| CNN | 3 | 10 | 468,010 |" in blocks["headline"]
    assert "3×3" in blocks["kernel"] and "7×7" in blocks["kernel"]
    assert "small GAP (16, 32, 64)" in blocks["architecture"]
    assert "precisión de prueba" in generated_blocks("es")["headline"]


def test_check_mode_finds_a_stale_readme(tmp_path):
    for folder in ("results", "fashion_mnist_cnn_model_pytorch"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    stale = (ROOT / "README.md").read_text().replace("| CNN | 3 | 10 |", "| CNN | 3 | 9 |")
    (tmp_path / "README.md").write_text(stale)
    assert update_readmes(check=True, root=tmp_path) == [tmp_path / "README.md"]
    assert update_readmes(root=tmp_path) == [tmp_path / "README.md"]
    assert update_readmes(check=True, root=tmp_path) == []
