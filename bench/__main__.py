"""Run every benchmark and print its table."""

from __future__ import annotations

from bench import board, promise, review_report, riskmap, scope, warning


def main() -> None:
    scope.main()
    warning.main()
    promise.main()
    board.main()
    riskmap.main()
    review_report.main()


if __name__ == "__main__":
    main()
