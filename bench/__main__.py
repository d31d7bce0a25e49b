"""Run every benchmark and print its table."""

from __future__ import annotations

from bench import scope


def main() -> None:
    scope.main()


if __name__ == "__main__":
    main()
