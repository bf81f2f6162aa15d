"""`make data`: download the public data sets the tests and benchmarks read, and check their SHA-256.

    python -m recommender.ml.fetch_data [--dest DIR]

They land in ``data_root()`` (``$SUPERAPP_DATA_DIR``, else ``../shared/data`` beside the checkout), outside
the repository: their licences allow research use, not redistribution. Files already there with the right
checksum are kept; a file whose checksum differs is an error (nothing is overwritten).

MovieLens 100k comes from GroupLens. The two derived sets (Foursquare check-in counts as used by Liu et
al., VLDB 2017; the Last.fm split of the LightGCN papers) have no single official archive: set
``SUPERAPP_FOURSQUARE_URL`` / ``SUPERAPP_LASTFM_URL`` to a zip holding their files, or put the files in the
folder by hand; either way the checksums below decide whether they are the right ones.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .bench_real import data_root


@dataclass(frozen=True)
class DataSet:
    folder: str
    source: str  # where it comes from, for people
    url_env: str | None  # environment variable overriding (or providing) the archive's URL
    url: str | None
    sha256: dict[str, str]  # file name -> SHA-256 of the file as the tests read it


DATA_SETS = [
    DataSet(
        folder="movielens-100k",
        source="GroupLens, https://grouplens.org/datasets/movielens/100k/ (Harper and Konstan, 2015)",
        url_env="SUPERAPP_MOVIELENS_URL",
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        sha256={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
            "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
            "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
            "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
        },
    ),
    DataSet(
        folder="foursquare-checkin-counts",
        source="Foursquare check-in counts of Liu et al., 'An Experimental Evaluation of Point-of-interest "
        "Recommendation in Location-based Social Networks', VLDB 2017 (the paper's data page)",
        url_env="SUPERAPP_FOURSQUARE_URL",
        url=None,
        sha256={"ratings_data.txt": "ca570980e577646d8d1025eba35042866a9f3856ef46b7dd276d40e498ab7f53"},
    ),
    DataSet(
        folder="lastfm-lightgcn",
        source="Last.fm (HetRec 2011, https://grouplens.org/datasets/hetrec-2011/) as split for the LightGCN papers",
        url_env="SUPERAPP_LASTFM_URL",
        url=None,
        sha256={
            "train.txt": "1845769cb1a9834692d3cf884de523d23aa126fa6b58eb5f49e9628e8c317705",
            "valid.txt": "9ae3440becfcbba19d5a5a8298b7933126f89424a468de5765bf1c6f08a9e3eb",
            "test.txt": "0f0a15e3de2f868554ee1e32190c51db3e0ad0c4138e1428c66ba6de86102755",
        },
    ),
]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _missing(ds: DataSet, folder: Path) -> list[str]:
    """Files of ``ds`` not yet in ``folder``; raises on a file present with the wrong checksum."""
    missing = []
    for name, expected in ds.sha256.items():
        path = folder / name
        if not path.exists():
            missing.append(name)
        elif sha256_of(path) != expected:
            raise SystemExit(f"{path}: SHA-256 differs from the expected {expected}; remove it and run again")
    return missing


def fetch(ds: DataSet, dest: Path) -> str:
    folder = dest / ds.folder
    missing = _missing(ds, folder)
    if not missing:
        return f"{ds.folder}: present, checksums match"
    url = os.environ.get(ds.url_env or "") or ds.url
    if not url:
        return (
            f"{ds.folder}: MISSING {', '.join(missing)}. Source: {ds.source}. Set {ds.url_env} to a zip of the "
            f"files, or put them in {folder}; tests that need them skip (and fail in CI)."
        )
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive.zip"
        print(f"{ds.folder}: downloading {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=120) as response, archive.open("wb") as out:  # noqa: S310 - https URL from the table or the operator
            shutil.copyfileobj(response, out)
        with zipfile.ZipFile(archive) as zf:
            by_name = {Path(member).name: member for member in zf.namelist() if not member.endswith("/")}
            staged = Path(tmp) / "staged"
            staged.mkdir()
            for name in missing:
                if name not in by_name:
                    raise SystemExit(f"{url}: the archive has no {name}")
                (staged / name).write_bytes(zf.read(by_name[name]))
                actual = sha256_of(staged / name)
                if actual != ds.sha256[name]:
                    raise SystemExit(f"{url}: {name} has SHA-256 {actual}, expected {ds.sha256[name]}")
        folder.mkdir(parents=True, exist_ok=True)
        for name in missing:
            shutil.move(staged / name, folder / name)
    return f"{ds.folder}: downloaded {len(missing)} file(s), checksums match"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None, help="default: $SUPERAPP_DATA_DIR or ../shared/data")
    args = parser.parse_args(argv)
    dest = (args.dest or data_root()).resolve()
    print(f"data folder: {dest}", file=sys.stderr)
    for ds in DATA_SETS:
        print(fetch(ds, dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
