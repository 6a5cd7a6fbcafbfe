"""Helpers shared by the book tests: the pages the table of contents lists."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files(sections=False):
    """Source paths without suffix, in book order: the root, every part's chapters and,
    with ``sections``, the pages nested under them (the problem sets)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            if sections:
                files += [s["file"] for s in chapter.get("sections", [])]
    return files
