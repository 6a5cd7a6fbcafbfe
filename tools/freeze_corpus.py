"""Write the language-model corpus snapshot, data/book_prose.txt, from the book as it is now.

The chapter-5 language model, its experiment and the tests read this frozen snapshot, not
the live chapters, so that editing the book does not silently change the numbers computed
from it. After freezing, rerun `python experiments/char_lm.py` (the committed result records
the snapshot's SHA-256, and tests/test_lm.py fails until the two agree).
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlcourse.text import CORPUS, book_prose, corpus_digest  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CORPUS, help=f"default {CORPUS}")
    args = parser.parse_args(argv)
    text = book_prose()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(text):,} characters, {len(set(text))} distinct, "
          f"sha256 {corpus_digest(text)[:16]}")


if __name__ == "__main__":
    main()
