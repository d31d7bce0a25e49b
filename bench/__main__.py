"""Run every benchmark and print its table."""

from __future__ import annotations

from bench import board, riskmap, scope, warning


def main() -> None:
    scope.main()
    warning.main()
    board.main()
    riskmap.main()


if __name__ == "__main__":
    main()
