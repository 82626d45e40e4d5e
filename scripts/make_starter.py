"""Record and sign the starter library: ``.venv/bin/python scripts/make_starter.py KEYFILE``.

Learns every case of ``bench/starter.py`` with the scripted provider in a
throwaway state folder, signs each trace with the Ed25519 private key in
KEYFILE (64 hex digits; kept outside the repository) and writes them to
``src/llmos/starter/traces/``. ``--new-key`` makes KEYFILE (mode 0600) and writes
its public half to ``src/llmos/starter/signing-key.pub``. CI never signs: it
only verifies (tests/memory/test_starter.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.starter import make  # noqa: E402

from llmos.memory.starter import PUBLIC_KEY_FILE, STARTER_TRACES  # noqa: E402


def _new_key(path: Path) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(raw.hex() + "\n")
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    PUBLIC_KEY_FILE.write_text(public.hex() + "\n", encoding="ascii")
    return raw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("key", type=Path, help="the Ed25519 private key (hex), outside the repo")
    parser.add_argument("--new-key", action="store_true", help="create the key pair first")
    args = parser.parse_args()
    if args.new_key:
        private = _new_key(args.key)
    else:
        private = bytes.fromhex(args.key.read_text("ascii").strip())
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.from_private_bytes(private).public_key()
    shipped = PUBLIC_KEY_FILE.read_text("ascii").strip()
    if public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex() != shipped:
        print(f"{args.key} is not the key of {PUBLIC_KEY_FILE}", file=sys.stderr)
        return 2
    written = make(private, STARTER_TRACES)
    print(f"{len(written)} starter traces signed in {STARTER_TRACES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
