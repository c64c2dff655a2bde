"""``python -m services.identity hash-password``: an scrypt hash for services/identity/seed/staff.json."""

import getpass
import sys

from services.identity.passwords import hash_password


def main() -> None:
    """Read a password (prompt or stdin) and print its hash."""
    if len(sys.argv) < 2 or sys.argv[1] != "hash-password":
        raise SystemExit(
            "usage: python -m services.identity hash-password  (reads the password from stdin or a prompt)"
        )
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        raise SystemExit("use at least 12 characters")
    print(hash_password(password))


if __name__ == "__main__":
    main()
