"""``python -m almo``: the same command line as the ``almo`` console script."""

from almo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
