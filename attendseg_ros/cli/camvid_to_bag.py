"""attendseg-camvid-to-bag: the earlier name of attendseg-dataset-to-bag (which reads every dataset layout)."""

from __future__ import annotations

import sys

from .dataset_to_bag import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
